package dev.vublk.tests.vm;

import java.util.Arrays;
import java.util.List;
import java.util.LongSummaryStatistics;
import java.util.function.ToLongFunction;

/**
 * One backend restart under a running guest: how long the killed backend had run, when QEMU
 * connected to the new one and when all its queues ran again (both counted from the kill), and
 * how many requests each queue resubmitted from the inflight area.
 */
record RestartRecord(int number, long ranMillis, long connectedMillis, long queuesUpMillis, int[] resubmittedPerQueue) {

    RestartRecord withRan(long millis) {
        return new RestartRecord(number, millis, connectedMillis, queuesUpMillis, resubmittedPerQueue);
    }

    int resubmitted() {
        return Arrays.stream(resubmittedPerQueue).sum();
    }

    @Override
    public String toString() {
        return String.format("restart %d: killed after %d ms, QEMU connected after %d ms, queues up after %d ms,"
                + " resubmitted per queue %s", number, ranMillis, connectedMillis, queuesUpMillis,
                Arrays.toString(resubmittedPerQueue));
    }

    /** The figures over all restarts: count, outage min/avg/max, requests resubmitted. */
    static String summary(List<RestartRecord> records, int planned) {
        return String.format("restarts done %d of %d; QEMU connected after %s ms, queues up after %s ms"
                + " (min/avg/max); %d request(s) resubmitted", records.size(), planned,
                spread(records, RestartRecord::connectedMillis), spread(records, RestartRecord::queuesUpMillis),
                records.stream().mapToInt(RestartRecord::resubmitted).sum());
    }

    private static String spread(List<RestartRecord> records, ToLongFunction<RestartRecord> f) {
        LongSummaryStatistics s = records.stream().mapToLong(f).summaryStatistics();
        return s.getCount() == 0 ? "-" : s.getMin() + "/" + Math.round(s.getAverage()) + "/" + s.getMax();
    }
}
