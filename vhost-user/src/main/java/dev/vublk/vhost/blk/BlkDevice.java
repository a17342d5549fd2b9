package dev.vublk.vhost.blk;

import static dev.vublk.vhost.ProtocolFeatures.bit;

import dev.vublk.block.BlockImage;
import dev.vublk.vhost.BackendChannel;
import dev.vublk.vhost.GuestMemoryMap;
import dev.vublk.vhost.ProtocolFeatures;
import dev.vublk.vhost.VirtioDevice;
import dev.vublk.vhost.Vring;
import dev.vublk.virtqueue.GuestMemory;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A virtio-blk device over a {@link BlockImage}: one thread and one io_uring per running queue. */
public final class BlkDevice implements VirtioDevice {
    private static final Logger LOG = LoggerFactory.getLogger(BlkDevice.class);

    private final BlkDisk disk;
    private final BlockImage image;
    private final BlkDeviceOptions options;
    private final BlkConfig config;
    private final BlkStats stats;
    private final byte[] serial;
    private final BlkQueueThread[] queues;
    private volatile long ackedFeatures;
    private final QueueQuiesce quiesce = new QueueQuiesce();
    /** Held to start or stop a queue and for the whole of a quiesced change: the set of queues stays put. */
    private final ReentrantLock queueChange = new ReentrantLock();
    private volatile BackendChannel backendChannel;

    /**
     * How long a quiesce waits for the queues' requests in flight: they normally complete in
     * milliseconds; a stuck storage must not hold the guest's I/O (or the operator) longer.
     */
    static final long QUIESCE_WAIT_MILLIS = 10_000;

    /** A change of the image made while no queue touches it. */
    interface ImageChange {
        void run() throws IOException;
    }

    /** A device of its own disk, for tests and tools that serve one connection. */
    public BlkDevice(BlockImage image, BlkDeviceOptions options) {
        this(new BlkDisk(image, options));
    }

    /** A device for one front-end connection to {@code disk}: see {@link BlkDisk#newDevice()}. */
    BlkDevice(BlkDisk disk) {
        this.disk = disk;
        this.image = disk.image();
        this.options = disk.options();
        this.stats = disk.stats();
        this.config = new BlkConfig(image.size(), options.logicalBlockSize(),
                Math.max(options.logicalBlockSize(), image.requestAlignment()),
                segMax(options.maxQueueSize()), options.numQueues(), options.writeCache());
        this.serial = Arrays.copyOf(options.serial().getBytes(StandardCharsets.UTF_8), BlkConfig.ID_BYTES);
        this.queues = new BlkQueueThread[options.numQueues()];
    }

    /** Leaves room for the header and status descriptors in a full-size chain. */
    static int segMax(int queueSize) {
        return Math.max(1, Math.min(queueSize, 1024) - 2);
    }

    @Override
    public long features() {
        long f = BlkFeatures.of(BlkFeatures.VERSION_1, BlkFeatures.RING_INDIRECT_DESC, BlkFeatures.RING_EVENT_IDX,
                BlkFeatures.SIZE_MAX, BlkFeatures.SEG_MAX, BlkFeatures.BLK_SIZE, BlkFeatures.TOPOLOGY,
                BlkFeatures.FLUSH, BlkFeatures.CONFIG_WCE, BlkFeatures.MQ, ProtocolFeatures.F_LOG_ALL);
        if (image.readOnly()) {
            f |= bit(BlkFeatures.RO);
        } else {
            f |= bit(BlkFeatures.WRITE_ZEROES);
            if (image.supportsDiscard()) {
                f |= bit(BlkFeatures.DISCARD);
            }
        }
        return f;
    }

    @Override
    public long protocolFeatures() {
        return bit(ProtocolFeatures.MQ) | bit(ProtocolFeatures.REPLY_ACK) | bit(ProtocolFeatures.CONFIG)
                | bit(ProtocolFeatures.CONFIGURE_MEM_SLOTS) | bit(ProtocolFeatures.RESET_DEVICE)
                | bit(ProtocolFeatures.BACKEND_REQ) | bit(ProtocolFeatures.INFLIGHT_SHMFD)
                | bit(ProtocolFeatures.LOG_SHMFD);
    }

    @Override
    public int queueCount() { return options.numQueues(); }

    @Override
    public int maxQueueSize() { return options.maxQueueSize(); }

    @Override
    public byte[] config() { return config.toArray(); }

    @Override
    public boolean writeConfig(int offset, byte[] data) {
        boolean ok = config.write(offset, data);
        if (ok) {
            LOG.info("guest set the write cache to {}", config.writeback() ? "write-back" : "write-through");
        }
        return ok;
    }

    @Override
    public String featureNames(long features) {
        return BlkFeatures.names(features);
    }

    @Override
    public void acknowledgeFeatures(long features) {
        ackedFeatures = features;
    }

    @Override
    public void startQueue(Vring vring, GuestMemoryMap memory) throws IOException {
        startQueue(vring, memory.memory());
    }

    /** Starts a ring over a memory snapshot (tests build one without a front-end). */
    void startQueue(Vring vring, GuestMemory memory) throws IOException {
        queueChange.lock();
        try {
            BlkQueueThread q = new BlkQueueThread(this, vring, memory);
            q.start();
            queues[vring.index()] = q;
        } finally {
            queueChange.unlock();
        }
    }

    @Override
    public void stopQueue(Vring vring) {
        queueChange.lock();
        try {
            BlkQueueThread q = queues[vring.index()];
            if (q != null) {
                queues[vring.index()] = null;
                vring.base(q.stop());
            }
        } finally {
            queueChange.unlock();
        }
    }

    /**
     * Called from the control side when the disk's limits change: a queue waiting on the old ones
     * asks again. Under the lock that starts and stops queues, so no queue's kick is written
     * after its stop.
     */
    void limitsChanged() {
        queueChange.lock();
        try {
            for (BlkQueueThread q : queues) {
                if (q != null) {
                    q.wake();
                }
            }
        } finally {
            queueChange.unlock();
        }
    }

    /**
     * Runs {@code change} while every running queue is parked with nothing in flight (see
     * {@link QueueQuiesce}); queues go on afterwards whether it succeeded or not.
     *
     * @throws IOException when a queue still has requests in flight after {@link #QUIESCE_WAIT_MILLIS}
     *     (then nothing was changed), or what {@code change} threw
     */
    void whileQuiesced(ImageChange change) throws IOException {
        queueChange.lock();
        try {
            List<BlkQueueThread> running = new ArrayList<>();
            for (BlkQueueThread q : queues) {
                if (q != null) {
                    running.add(q);
                }
            }
            quiesce.request();
            try {
                running.forEach(BlkQueueThread::wake); // a thread waiting on its ring looks at the request
                BlkQueueThread busy = quiesce.awaitParked(running, BlkQueueThread::ended,
                        TimeUnit.MILLISECONDS.toNanos(QUIESCE_WAIT_MILLIS));
                if (busy != null) {
                    throw new IOException("queue " + busy.index() + " still has requests in flight after "
                            + QUIESCE_WAIT_MILLIS + " ms; nothing was changed");
                }
                change.run();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while waiting for the queues to go quiet; nothing was changed");
            } finally {
                quiesce.release();
            }
        } finally {
            queueChange.unlock();
        }
    }

    /** The capacity the config space reports from now on (GET_CONFIG reads it). */
    void capacityChanged(long bytes) {
        config.setCapacity(bytes);
    }

    /**
     * Tells the front-end its config space changed, over the backend channel.
     *
     * @return what happened, or null when the front-end gave no backend channel
     */
    BackendChannel.Outcome announceConfigChange() {
        BackendChannel channel = backendChannel;
        return channel == null ? null : channel.configChanged();
    }

    @Override
    public void backendChannel(BackendChannel channel) {
        backendChannel = channel;
    }

    @Override
    public void reset() {
        LOG.info("device statistics: {} (since start)", stats);
    }

    /** Queues started and not stopped since: whether the guest's I/O can run (the control socket's query-status). */
    public int runningQueues() {
        int n = 0;
        for (BlkQueueThread q : queues) {
            n += q != null ? 1 : 0;
        }
        return n;
    }

    BlkDisk disk() { return disk; }

    QueueQuiesce quiesce() { return quiesce; }

    BlockImage image() { return image; }

    BlkStats stats() { return stats; }

    byte[] serial() { return serial; }

    int logicalBlockSize() { return options.logicalBlockSize(); }

    /** seg_max as the config space reports it. */
    int segMax() { return segMax(options.maxQueueSize()); }

    /** Write-through when the driver (or the operator) turned the cache off: each write is flushed. */
    boolean writeThrough() {
        return (ackedFeatures & bit(BlkFeatures.FLUSH)) == 0 || !config.writeback();
    }
}
