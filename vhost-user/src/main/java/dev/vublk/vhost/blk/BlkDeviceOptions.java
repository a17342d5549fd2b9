package dev.vublk.vhost.blk;

/**
 * Device settings chosen by the operator.
 *
 * @param numQueues        queues offered (GET_QUEUE_NUM and the config's num_queues)
 * @param maxQueueSize     the largest ring accepted
 * @param serial           the GET_ID answer, at most 20 bytes
 * @param logicalBlockSize 512 or 4096: what the guest sees as blk_size
 * @param writeCache       report a volatile write cache (the guest sends FLUSH) instead of write-through
 */
public record BlkDeviceOptions(int numQueues, int maxQueueSize, String serial, int logicalBlockSize, boolean writeCache) {
    public BlkDeviceOptions {
        if (numQueues < 1 || numQueues > 64) {
            throw new IllegalArgumentException("numQueues " + numQueues);
        }
        if (logicalBlockSize != 512 && logicalBlockSize != 4096) {
            throw new IllegalArgumentException("logicalBlockSize " + logicalBlockSize);
        }
        if (serial.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > BlkConfig.ID_BYTES) {
            throw new IllegalArgumentException("serial longer than 20 bytes");
        }
    }
}
