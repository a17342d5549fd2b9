package dev.vublk.vhost.blk;

import java.util.ArrayList;
import java.util.List;

/**
 * The live statistics of a disk over the process's lifetime: one {@link QueueStats} per queue
 * index, which every connection's thread for that index continues. Logged on disconnect.
 */
public final class BlkStats {
    private final QueueStats[] queues;

    /** Statistics for queue indexes {@code 0 .. numQueues - 1}. */
    public BlkStats(int numQueues) {
        queues = new QueueStats[numQueues];
        for (int i = 0; i < numQueues; i++) {
            queues[i] = new QueueStats();
        }
    }

    /** The counters of queue {@code index}, which only that queue's thread may update. */
    public QueueStats queue(int index) {
        return queues[index];
    }

    /** A snapshot of every queue and their total, describing the disk as given. */
    public DiskStatistics snapshot(String serial, long sizeBytes, IoLimits limits) {
        List<QueueStatistics> each = new ArrayList<>(queues.length);
        QueueStatistics total = QueueStatistics.empty(-1);
        for (int i = 0; i < queues.length; i++) {
            QueueStatistics q = queues[i].snapshot(i);
            each.add(q);
            total = total.plus(q, -1);
        }
        return new DiskStatistics(serial, sizeBytes, limits, each, total);
    }

    /** All queues together, as the log line at disconnect shows them. */
    @Override
    public String toString() {
        QueueStatistics total = QueueStatistics.empty(-1);
        for (int i = 0; i < queues.length; i++) {
            total = total.plus(queues[i].snapshot(i), -1);
        }
        return total.toString();
    }
}
