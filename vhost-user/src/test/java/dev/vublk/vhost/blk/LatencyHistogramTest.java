package dev.vublk.vhost.blk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Bucket placement by the {@code le} rule: a latency equal to a bound counts in that bound's bucket. */
class LatencyHistogramTest {
    @Test
    void boundsArePowersOfTwoNanosecondsFromAboutAMicrosecondToAbout34Seconds() {
        assertEquals(1024, LatencyHistogram.boundNanos(0));
        assertEquals(2048, LatencyHistogram.boundNanos(1));
        assertEquals(1L << 35, LatencyHistogram.boundNanos(LatencyHistogram.BOUNDS - 1));
        assertThrows(IndexOutOfBoundsException.class, () -> LatencyHistogram.boundNanos(LatencyHistogram.BOUNDS));
        assertThrows(IndexOutOfBoundsException.class, () -> LatencyHistogram.boundNanos(-1));
    }

    @Test
    void aLatencyLandsInTheFirstBucketWhoseBoundIsNotBelowIt() {
        assertEquals(0, LatencyHistogram.bucketOf(0));
        assertEquals(0, LatencyHistogram.bucketOf(-5), "a clock stepping back counts as fastest, never out of range");
        assertEquals(0, LatencyHistogram.bucketOf(1024));
        assertEquals(1, LatencyHistogram.bucketOf(1025));
        assertEquals(1, LatencyHistogram.bucketOf(2048));
        assertEquals(2, LatencyHistogram.bucketOf(2049));
        assertEquals(10, LatencyHistogram.bucketOf(1_000_000), "1 ms is in (524 µs, 1.049 ms]");
        assertEquals(LatencyHistogram.BOUNDS - 1, LatencyHistogram.bucketOf(1L << 35));
        assertEquals(LatencyHistogram.BOUNDS, LatencyHistogram.bucketOf((1L << 35) + 1), "above 34 s: the unbounded bucket");
        assertEquals(LatencyHistogram.BOUNDS, LatencyHistogram.bucketOf(Long.MAX_VALUE));
        for (int i = 0; i < LatencyHistogram.BOUNDS; i++) {
            long bound = LatencyHistogram.boundNanos(i);
            assertEquals(i, LatencyHistogram.bucketOf(bound), "at bound " + bound);
            assertEquals(i + 1, LatencyHistogram.bucketOf(bound + 1), "just above bound " + bound);
        }
    }

    @Test
    void countIsTheSumOfTheBinsAndAddingAddsBinWise() {
        long[] a = new long[LatencyHistogram.BUCKETS];
        long[] b = new long[LatencyHistogram.BUCKETS];
        a[0] = 2;
        a[26] = 1;
        b[0] = 3;
        b[5] = 4;
        LatencyHistogram sum = new LatencyHistogram(a, 100).plus(new LatencyHistogram(b, 50));
        assertEquals(5, sum.bin(0));
        assertEquals(4, sum.bin(5));
        assertEquals(1, sum.bin(26));
        assertEquals(10, sum.count());
        assertEquals(150, sum.sumNanos());
        assertThrows(IllegalArgumentException.class, () -> new LatencyHistogram(new long[3], 0));
    }
}
