package dev.vublk.vhost.blk;

import java.util.List;

/**
 * An immutable snapshot of a disk for the control socket and the metrics endpoint: what it is
 * (the serial that names it, its size, its I/O limits) and its statistics per queue index, every
 * configured queue listed whether a front-end started it or not, and in total.
 *
 * @param serial    the serial the guest reads with GET_ID: the disk's name for an operator
 * @param sizeBytes the guest-visible size
 * @param limits    the I/O limits in force
 * @param queues    one entry per configured queue, in index order
 * @param total     all queues added up ({@link QueueStatistics#queue()} is -1)
 */
public record DiskStatistics(String serial, long sizeBytes, IoLimits limits, List<QueueStatistics> queues,
                             QueueStatistics total) {
    public DiskStatistics {
        queues = List.copyOf(queues);
    }
}
