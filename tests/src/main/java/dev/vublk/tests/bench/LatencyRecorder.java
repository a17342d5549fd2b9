package dev.vublk.tests.bench;

import java.util.Arrays;

/** Every completion latency of one driver thread, in nanoseconds; merged and sorted for percentiles. */
final class LatencyRecorder {
    private long[] samples = new long[1 << 16];
    private int count;

    void record(long nanos) {
        if (count == samples.length) {
            samples = Arrays.copyOf(samples, samples.length * 2);
        }
        samples[count++] = nanos;
    }

    int count() {
        return count;
    }

    static long[] mergeSorted(Iterable<LatencyRecorder> all) {
        int n = 0;
        for (LatencyRecorder r : all) {
            n += r.count;
        }
        long[] out = new long[n];
        int at = 0;
        for (LatencyRecorder r : all) {
            System.arraycopy(r.samples, 0, out, at, r.count);
            at += r.count;
        }
        Arrays.sort(out);
        return out;
    }

    static double percentileMicros(long[] sorted, double p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int i = (int) Math.min(sorted.length - 1, Math.ceil(p / 100.0 * sorted.length) - 1);
        return sorted[Math.max(0, i)] / 1000.0;
    }
}
