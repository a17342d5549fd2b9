package dev.vublk.vhost.blk;

import java.util.Arrays;

/**
 * A snapshot of one latency histogram: fixed log2 buckets, so recording one latency is a shift
 * and an increment with nothing to configure. Bucket {@code i < BOUNDS} counts latencies of at
 * most {@code boundNanos(i)} (2^(10+i) ns: 1.024 µs, 2.048 µs, ... 34.4 s) and above the bucket
 * before; the last bucket counts everything above 34.4 s. That is Prometheus' {@code le}
 * ("less or equal") rule; QEMU's {@code BlockLatencyHistogram} counts a latency equal to a
 * boundary in the bin above it instead.
 */
public final class LatencyHistogram {
    /** Finite upper bounds; there is one more bucket, unbounded. */
    public static final int BOUNDS = 26;
    /** Buckets including the unbounded one. */
    public static final int BUCKETS = BOUNDS + 1;
    /** log2 of the first bound: 2^10 ns, about 1 µs. */
    private static final int FIRST_SHIFT = 10;

    private final long[] bins;
    private final long sumNanos;

    /** A histogram with these per-bucket counts (not cumulative) and latency total. */
    public LatencyHistogram(long[] bins, long sumNanos) {
        if (bins.length != BUCKETS) {
            throw new IllegalArgumentException("a latency histogram has " + BUCKETS + " buckets, not " + bins.length);
        }
        this.bins = bins.clone();
        this.sumNanos = sumNanos;
    }

    /** The upper bound of bucket {@code i}, in nanoseconds, for {@code 0 <= i < BOUNDS}. */
    public static long boundNanos(int i) {
        if (i < 0 || i >= BOUNDS) {
            throw new IndexOutOfBoundsException("bucket " + i + " has no finite bound");
        }
        return 1L << (FIRST_SHIFT + i);
    }

    /** The bucket counting a latency of {@code nanos}: the first whose bound is not below it. */
    static int bucketOf(long nanos) {
        if (nanos <= 1L << FIRST_SHIFT) {
            return 0; // also a negative latency, should the clock ever step back
        }
        int bits = 64 - Long.numberOfLeadingZeros(nanos - 1); // ceil(log2(nanos))
        return Math.min(bits - FIRST_SHIFT, BOUNDS);
    }

    /** The count in bucket {@code i} alone (not cumulative), {@code 0 <= i < BUCKETS}. */
    public long bin(int i) {
        return bins[i];
    }

    /** Every latency recorded. */
    public long count() {
        return Arrays.stream(bins).sum();
    }

    /** The sum of every latency recorded, in nanoseconds. */
    public long sumNanos() {
        return sumNanos;
    }

    /** This histogram and {@code other} together. */
    LatencyHistogram plus(LatencyHistogram other) {
        long[] sum = bins.clone();
        for (int i = 0; i < BUCKETS; i++) {
            sum[i] += other.bins[i];
        }
        return new LatencyHistogram(sum, sumNanos + other.sumNanos);
    }

    @Override
    public String toString() {
        return "LatencyHistogram" + Arrays.toString(bins) + " sum " + sumNanos + " ns";
    }
}
