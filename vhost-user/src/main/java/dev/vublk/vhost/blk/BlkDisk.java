package dev.vublk.vhost.blk;

import dev.vublk.block.BlockImage;
import java.io.IOException;

/**
 * One disk served for the life of the process. Front-ends come and go (each connection gets its
 * own {@link BlkDevice}); what an operator sees and sets lives here and outlives them: the image,
 * the options, the statistics, the I/O limits, the size.
 */
public final class BlkDisk {
    private final BlockImage image;
    private final BlkDeviceOptions options;
    private final BlkStats stats;
    private volatile IoLimits limits = IoLimits.NONE;
    private volatile BlkDevice connected;

    public BlkDisk(BlockImage image, BlkDeviceOptions options) {
        this.image = image;
        this.options = options;
        this.stats = new BlkStats(options.numQueues());
    }

    /** A device for a new front-end connection; it becomes the connected one. */
    public BlkDevice newDevice() {
        BlkDevice device = new BlkDevice(this);
        connected = device;
        return device;
    }

    /** The device of the front-end connected now, or null between connections. */
    public BlkDevice connected() {
        return connected;
    }

    public BlockImage image() {
        return image;
    }

    public BlkDeviceOptions options() {
        return options;
    }

    /** Counters over the process's lifetime, per queue index, continued by every connection's queues. */
    public BlkStats stats() {
        return stats;
    }

    /** A snapshot of the statistics with the disk's name, size and limits now. */
    public DiskStatistics statistics() {
        return stats.snapshot(options.serial(), size(), limits);
    }

    /** The guest-visible size in bytes. */
    public long size() {
        return image.size();
    }

    /**
     * Changes the virtual size while queues run and tells a connected guest.
     *
     * @throws UnsupportedOperationException when the image's format cannot resize
     */
    public void resize(long newSize) throws IOException {
        throw new UnsupportedOperationException("online resize is not implemented yet");
    }

    public IoLimits limits() {
        return limits;
    }

    /** Applies new I/O limits to every queue, now and for later connections. */
    public void setLimits(IoLimits limits) {
        this.limits = limits;
    }
}
