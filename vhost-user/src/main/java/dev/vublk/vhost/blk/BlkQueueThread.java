package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.BlkRequestType.S_IOERR;
import static dev.vublk.vhost.blk.BlkRequestType.S_OK;
import static dev.vublk.vhost.blk.BlkRequestType.S_UNSUPP;

import dev.vublk.block.BlockWorker;
import dev.vublk.uring.Errno;
import dev.vublk.uring.EventFd;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeException;
import dev.vublk.vhost.DirtyLog;
import dev.vublk.vhost.InflightQueue;
import dev.vublk.vhost.Vring;
import dev.vublk.virtqueue.DescriptorChain;
import dev.vublk.virtqueue.GuestMemory;
import dev.vublk.virtqueue.RingLayout;
import dev.vublk.virtqueue.VirtqueueException;
import dev.vublk.virtqueue.SplitQueue;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The thread of one virtqueue. It owns an io_uring on which it reads the kick eventfd and does
 * all disk I/O, so one wait covers both; each wakeup pops every available request, starts its
 * I/O, and after the batch publishes used entries with at most one call notification.
 */
final class BlkQueueThread implements Runnable, IoCompletion {
    private static final Logger LOG = LoggerFactory.getLogger(BlkQueueThread.class);
    private static final int MAX_IOVECS = IoVecArray.IOV_MAX;

    private final BlkDevice device;
    private final Vring vring;
    private final GuestMemory memory;
    private final int index;
    private final EventFd kick;
    private final Thread thread;
    private final CompletableFuture<Void> started = new CompletableFuture<>();
    private final ArrayDeque<BlkRequest> pool = new ArrayDeque<>();
    private final BlkRequestParser parser;
    private final InflightQueue inflight;
    /** Non-null while migration logs every guest write (VHOST_F_LOG_ALL with a log set). */
    private final DirtyLog writeLog;
    /** Non-null while used-ring writes are logged (F_LOG in the ring address). */
    private final DirtyLog usedLog;
    private final long usedGpa;
    private long usedBytes;
    private int[] resubmit = new int[0];
    private volatile boolean stopRequested;
    private IoUring ring;
    private BlockWorker worker;
    private SplitQueue queue;
    private DescriptorChain chain;
    private MemorySegment kickBuffer;
    private int inFlight;
    private boolean usedPending;
    private boolean broken;

    BlkQueueThread(BlkDevice device, Vring vring, GuestMemory memory) {
        this.device = device;
        this.vring = vring;
        this.memory = memory;
        this.index = vring.index();
        this.kick = vring.kick();
        this.parser = new BlkRequestParser(device);
        this.inflight = vring.inflight();
        this.writeLog = vring.logAll() ? vring.dirtyLog() : null;
        this.usedLog = vring.usedRingLog();
        this.usedGpa = vring.address().log();
        this.thread = new Thread(this, "vq-" + index);
    }

    /** Starts the thread and waits until its ring and queue are set up (or failed to be). */
    void start() throws IOException {
        thread.start();
        try {
            started.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while starting queue " + index);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        }
    }

    /** Stops taking requests, waits for those in flight, and returns last_avail_idx. */
    int stop() {
        stopRequested = true;
        try {
            kick.write(1); // completes the pending kick read so the thread sees the request
        } catch (NativeException e) {
            LOG.warn("queue {}: cannot wake the queue thread: {}", index, e.getMessage());
        }
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return queue != null ? queue.lastAvailIdx() : vring.base();
    }

    BlockWorker worker() {
        return worker;
    }

    @Override
    public void run() {
        try (Arena arena = Arena.ofConfined()) {
            try {
                setUp(arena);
                started.complete(null);
            } catch (IOException | VirtqueueException | RuntimeException e) {
                started.completeExceptionally(e instanceof IOException ? e : new IOException(e.getMessage(), e));
                closeRing();
                return;
            }
            LOG.debug("queue {} started: size {}, last_avail_idx {}", index, vring.size(), vring.base());
            loop();
        } catch (Throwable t) {
            LOG.error("queue {} failed; it stops serving until the front-end restarts it", index, t);
        } finally {
            closeRing();
        }
    }

    private void setUp(Arena arena) throws IOException, VirtqueueException {
        var a = vring.address();
        queue = SplitQueue.fromUserAddresses(memory, vring.size(), a.descriptors(), a.available(), a.used(), vring.eventIdx());
        queue.setLastAvailIdx(vring.base());
        if (inflight != null) {
            // What the dead back-end took and never completed is redone first; the ring then
            // continues after everything it had taken (libvhost-user does the same).
            resubmit = inflight.recover(queue.usedIdx());
            queue.setLastAvailIdx(queue.usedIdx() + resubmit.length);
            if (resubmit.length > 0) {
                LOG.info("queue {}: resubmitting {} request(s) left in flight by an earlier back-end", index, resubmit.length);
            }
        }
        chain = queue.newChain();
        usedBytes = RingLayout.usedRingBytes(vring.size(), vring.eventIdx());
        logUsedRing();
        ring = new IoUring(Math.min(4096, Math.max(64, vring.size() * 2)), true);
        worker = device.image().newWorker(ring);
        kickBuffer = arena.allocate(8, 8);
        for (int i = 0; i < Math.min(vring.size(), 64); i++) {
            pool.push(new BlkRequest(this, iovecsPerRequest()));
        }
        armKick();
    }

    private void loop() throws NativeException {
        for (int head : resubmit) {
            if (queue.walkHead(head, chain) >= 0) {
                startRequest();
            }
        }
        processAvailable();
        while (!(stopRequested && inFlight == 0 && ring.inFlight() == 0)) {
            ring.submitAndWait();
            publishUsed();
        }
        publishUsed();
    }

    /**
     * Room for every data buffer a chain may carry: seg_max is promised before the ring size is
     * known, and drivers use indirect tables to send that many whatever the ring size.
     */
    private int iovecsPerRequest() {
        return Math.min(MAX_IOVECS, BlkDevice.segMax(device.maxQueueSize()) + 2);
    }

    private void armKick() throws NativeException {
        ring.read(kick.fd(), kickBuffer.address(), 8, 0, this, 0);
    }

    /** The kick eventfd fired (or {@link #stop()} woke us). */
    @Override
    public void complete(long tag, int result) {
        if (stopRequested) {
            return;
        }
        try {
            if (result < 0 && result != -Errno.EAGAIN) {
                LOG.warn("queue {}: reading the kick eventfd failed: {}", index, Errno.name(result));
            }
            armKick();
        } catch (NativeException e) {
            LOG.error("queue {}: cannot re-arm the kick eventfd: {}", index, e.getMessage());
            stopRequested = true;
            return;
        }
        processAvailable();
    }

    private void processAvailable() {
        if (broken) {
            return;
        }
        queue.disableKicks();
        do {
            while (!stopRequested) {
                int popped = queue.pop(chain);
                if (popped == SplitQueue.BROKEN) {
                    LOG.error("queue {}: {}; the queue stops until the front-end resets it", index, queue.brokenReason());
                    broken = true;
                    return;
                }
                if (popped == SplitQueue.NO_BUFFER) {
                    break;
                }
                startRequest();
            }
        } while (!stopRequested && queue.enableKicks());
        logUsedRing(); // the kick suppression fields live in the used ring
    }

    /** Whether requests must record the guest ranges they write (see {@link BlkRequest#recordWritable}). */
    boolean logsWrites() {
        return writeLog != null;
    }

    /**
     * Logs the whole used ring, once per batch: it is a page or two, and marking it all is
     * cheaper than tracking which elements and flags changed.
     */
    private void logUsedRing() {
        if (usedLog != null) {
            usedLog.mark(usedGpa, usedBytes);
        }
    }

    private void startRequest() {
        BlkRequest r = pool.isEmpty() ? new BlkRequest(this, iovecsPerRequest()) : pool.pop();
        inFlight++;
        if (inflight != null) {
            inflight.taken(chain.head());
        }
        parser.start(chain, r);
    }

    /** Called once per request, with its status; an errno is only for logging. */
    void finish(BlkRequest r, byte status, int errno) {
        if (status == S_IOERR) {
            device.stats().errors.increment();
            if (errno != 0) {
                LOG.debug("queue {}: request type {} failed: {}", index, r.type, Errno.name(errno));
            }
        } else if (status == S_UNSUPP) {
            device.stats().unsupported.increment();
        }
        if (r.statusAddress != 0) {
            r.writeStatus(status);
        }
        if (writeLog != null) {
            r.markWritten(writeLog); // after the data and status are in guest memory, before the guest hears
        }
        stage(r.head, status == S_OK ? r.usedLength : 1);
        inFlight--;
        pool.push(r);
    }

    /** Completes a chain that never became a request (malformed): used length 0, nothing written. */
    void discardChain(int head) {
        stage(head, 0);
    }

    private void stage(int head, int length) {
        queue.stageUsed(head, length);
        if (inflight != null) {
            inflight.staged(head);
        }
        usedPending = true;
    }

    void releaseUnstarted(BlkRequest r) {
        inFlight--;
        pool.push(r);
    }

    private void publishUsed() {
        if (!usedPending) {
            return;
        }
        usedPending = false;
        queue.publishUsed();
        logUsedRing();
        if (inflight != null) {
            inflight.published(queue.usedIdx());
        }
        if (queue.needsNotification()) {
            int call = vring.callFd();
            if (call >= 0) {
                try {
                    EventFd.write(call, 1);
                } catch (NativeException e) {
                    LOG.warn("queue {}: cannot signal the call eventfd: {}", index, e.getMessage());
                }
            }
        }
    }

    private void closeRing() {
        if (worker != null) {
            worker.close();
        }
        if (ring != null) {
            ring.close();
        }
    }

    int index() {
        return index;
    }
}
