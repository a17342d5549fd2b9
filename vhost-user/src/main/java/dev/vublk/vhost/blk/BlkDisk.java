package dev.vublk.vhost.blk;

import dev.vublk.block.BlockImage;
import dev.vublk.vhost.BackendChannel;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One disk served for the life of the process. Front-ends come and go (each connection gets its
 * own {@link BlkDevice}); what an operator sees and sets lives here and outlives them: the image,
 * the options, the statistics, the I/O limits, the size.
 */
public final class BlkDisk {
    private static final Logger LOG = LoggerFactory.getLogger(BlkDisk.class);

    private final BlockImage image;
    private final BlkDeviceOptions options;
    private final BlkStats stats;
    private volatile IoLimits limits = IoLimits.NONE;
    /** The limits in force; null while there are none (see {@link Throttle}). */
    private volatile Throttle throttle;
    private volatile BlkDevice connected;
    private volatile EnospcPolicy enospcPolicy = EnospcPolicy.REPORT;
    private volatile IoErrorListener ioErrorListener;

    public BlkDisk(BlockImage image, BlkDeviceOptions options) {
        this.image = image;
        this.options = options;
        this.stats = new BlkStats(options.numQueues());
    }

    /**
     * A device for a new front-end connection; it becomes the connected one. Made under the
     * resize lock, so its config space holds the size a concurrent resize leaves.
     */
    public synchronized BlkDevice newDevice() {
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
     * Changes the virtual size while queues run and tells a connected guest. The connected
     * device's queues are quiesced around the change (requests in flight complete first, new
     * ones wait in the rings), its config space reports the new capacity, and the front-end hears
     * of it through CONFIG_CHANGE_MSG when it gave a backend channel; otherwise the guest sees
     * the size at its next config read.
     *
     * <p>Policy: growing is always allowed; shrinking where the format can drop what lies past
     * the new end (RAW files, qcow2 without internal snapshots, dynamic VHDX), and never on an
     * image with a backing file or parent, whose older data a later grow would expose again.
     * Requests past a shrunk end fail with IOERR. Read-only images, fixed VHDX, block devices and
     * NBD exports refuse.
     *
     * @throws IllegalArgumentException      a size that is not positive or not a whole number of blocks
     * @throws UnsupportedOperationException the image or its format cannot change to this size
     * @throws IOException                   the queues did not go quiet in time (the size is
     *     unchanged), or the format failed to change it
     */
    public void resize(long newSize) throws IOException {
        BlkDevice device;
        long oldSize;
        synchronized (this) {
            oldSize = image.size();
            checkResize(oldSize, newSize);
            if (newSize == oldSize) {
                LOG.info("{}: resize to {} bytes: already that size", image.location(), newSize);
                return;
            }
            device = connected;
            if (device == null) {
                image.resize(newSize);
            } else {
                device.whileQuiesced(() -> {
                    image.resize(newSize);
                    device.capacityChanged(image.size());
                });
            }
        }
        // Outside the lock: the front-end's ack may take its timeout, and a new connection must not wait for it.
        String told = device == null ? "no front-end is connected" : describe(device.announceConfigChange());
        LOG.info("{}: resized from {} to {} bytes; {}", image.location(), oldSize, newSize, told);
    }

    private void checkResize(long oldSize, long newSize) {
        if (image.readOnly()) {
            throw new UnsupportedOperationException(image.location() + " is served read-only; it cannot be resized");
        }
        long unit = Math.max(512, Math.max(options.logicalBlockSize(), image.requestAlignment()));
        if (newSize <= 0 || newSize % unit != 0) {
            throw new IllegalArgumentException("size " + newSize + " is not a positive multiple of " + unit
                    + " bytes (the logical block size and the image's request alignment)");
        }
        if (newSize < oldSize && image.backing() != null) {
            throw new UnsupportedOperationException(image.location() + " has the backing image "
                    + image.backing().location() + "; shrinking it is refused, since growing it again would bring"
                    + " back the backing image's older data past the new end");
        }
    }

    private static String describe(BackendChannel.Outcome outcome) {
        if (outcome == null) {
            return "the front-end gave no backend channel, so the guest sees the new size at its next config read";
        }
        return switch (outcome) {
            case ACKED -> "the front-end acknowledged the config change";
            case SENT -> "the config change was sent to the front-end";
            case NOT_NEGOTIATED -> "the front-end did not negotiate CONFIG, so the guest sees the new size at its next config read";
            case REFUSED, FAILED -> "telling the front-end failed (see above), so the guest sees the new size at its next config read";
        };
    }

    public IoLimits limits() {
        return limits;
    }

    /**
     * Applies new I/O limits to every queue, now and for later connections: they start with
     * empty buckets (as in QEMU), and requests waiting on the old limits are asked again at once.
     */
    public void setLimits(IoLimits limits) {
        BlkDevice device;
        synchronized (this) {
            this.throttle = Throttle.of(limits, System.nanoTime());
            this.limits = limits;
            device = connected;
        }
        if (device != null) {
            device.limitsChanged(); // outside the lock: it waits while a queue of the device is stopping
        }
    }

    /** What queues do with requests that found no space on the image's file system. */
    public EnospcPolicy enospcPolicy() {
        return enospcPolicy;
    }

    /** Applies to requests failing from now on; requests held already keep their start time. */
    public void setEnospcPolicy(EnospcPolicy policy) {
        this.enospcPolicy = java.util.Objects.requireNonNull(policy, "policy");
    }

    /** Who hears of requests failed with an I/O error (the control socket's BLOCK_IO_ERROR), or null. */
    public IoErrorListener ioErrorListener() {
        return ioErrorListener;
    }

    public void setIoErrorListener(IoErrorListener listener) {
        this.ioErrorListener = listener;
    }

    /** What queues check reads and writes against; null when the disk is unlimited. */
    Throttle throttle() {
        return throttle;
    }
}
