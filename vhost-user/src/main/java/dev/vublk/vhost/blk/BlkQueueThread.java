package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.BlkRequestType.S_IOERR;
import static dev.vublk.vhost.blk.BlkRequestType.S_OK;

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
import java.util.ArrayDeque;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The thread of one virtqueue. It owns an io_uring on which it reads the kick eventfd and does
 * all disk I/O, so one wait covers both; each wakeup pops every available request, starts its
 * I/O, and after the batch publishes used entries with at most one call notification.
 *
 * <h2>Failure</h2>
 * A queue fails alone. A ring the driver corrupted ({@link SplitQueue#BROKEN}) stops taking
 * requests, finishes those in flight and waits for the front-end to stop it. Any other throwable
 * (a bug, or an {@link InternalError} from guest memory the front-end truncated under us) makes
 * the queue <em>failed</em>: it stops touching guest memory and the rings, lets the kernel finish
 * every operation still in flight (their completions run, so the image worker commits or aborts
 * what it started and other queues waiting on it resume), and only then closes the worker and
 * the ring, which frees the buffers those operations targeted. Both tell the front-end through
 * the vring's err eventfd. {@link #stop()} waits at most {@link #STOP_WAIT_MILLIS} for the thread.
 */
final class BlkQueueThread implements Runnable, IoCompletion, RequestOwner {
    private static final Logger LOG = LoggerFactory.getLogger(BlkQueueThread.class);
    private static final int MAX_IOVECS = IoVecArray.IOV_MAX;
    /**
     * How long {@link #stop()} waits for the thread: its I/O normally completes in milliseconds;
     * past this a stuck device (e.g. a hung network file system) must not hang the control path.
     */
    static final long STOP_WAIT_MILLIS = 30_000;
    /**
     * Requests started at once, whatever the queue size (up to 32768): the pooled requests'
     * iovec arrays then take at most 1024 * 16 KiB. Further available requests wait in the ring
     * until some complete.
     */
    static final int MAX_IN_FLIGHT = 1024;
    /**
     * Rings whose operations never drained (the ring itself failed): their buffers stay
     * reachable here, never freed, since the kernel may still write into them.
     */
    private static final ConcurrentLinkedQueue<Object> ABANDONED = new ConcurrentLinkedQueue<>();

    private final BlkDevice device;
    private final Vring vring;
    private final GuestMemory memory;
    private final int index;
    private final EventFd kick;
    private final Thread thread;
    private final CompletableFuture<Void> started = new CompletableFuture<>();
    private final ArrayDeque<BlkRequest> pool = new ArrayDeque<>();
    private final BlkRequestParser parser;
    /** This queue index's lifetime counters; only this thread writes them. */
    private final QueueStats stats;
    private final InflightQueue inflight;
    /** Non-null while migration logs every guest write (VHOST_F_LOG_ALL with a log set). */
    private final DirtyLog writeLog;
    /** Non-null while used-ring writes are logged (F_LOG in the ring address). */
    private final DirtyLog usedLog;
    private final long usedGpa;
    private long usedBytes;
    private int[] resubmit = new int[0];
    private volatile boolean stopRequested;
    /** Holds this thread still, outside its ring, while the device's image changes (see {@link QueueQuiesce}). */
    private final QueueQuiesce quiesce;
    /** Set once the thread is done with the image and the ring, whatever ended it. */
    private volatile boolean ended;
    private IoUring ring;
    private BlockWorker worker;
    private SplitQueue queue;
    private DescriptorChain chain;
    private MemorySegment kickBuffer;
    private int inFlight;
    private boolean usedPending;
    private boolean broken;
    /** Set after an unexpected throwable: completions only release state, guest memory is left alone. */
    private boolean failed;
    /** Whether the kick eventfd read is in flight on the ring. */
    private boolean kickArmed;
    /** Available requests were left in the ring because {@link #MAX_IN_FLIGHT} were in flight. */
    private boolean backlog;
    private final BlkDisk disk;
    /** The request in {@link #chain} is popped but waits for the disk's throttle: nothing more is popped meanwhile. */
    private boolean deferred;
    private final RingTimer throttleTimer = new RingTimer(this::throttleTimerFired);
    /** Requests held while the disk has no space (--on-enospc wait). */
    private final SpaceWait spaceWait;
    private final IoErrorEvents ioErrors;
    /** Where a held request's chain is walked again: {@link #chain} may hold a request the throttle defers. */
    private DescriptorChain retryChain;

    BlkQueueThread(BlkDevice device, Vring vring, GuestMemory memory) {
        this.device = device;
        this.disk = device.disk();
        this.vring = vring;
        this.memory = memory;
        this.index = vring.index();
        this.kick = vring.kick();
        this.parser = new BlkRequestParser(device);
        this.stats = device.stats().queue(index);
        this.inflight = vring.inflight();
        this.writeLog = vring.logAll() ? vring.dirtyLog() : null;
        this.usedLog = vring.usedRingLog();
        this.usedGpa = vring.address().log();
        this.thread = new Thread(this, "vq-" + index);
        this.quiesce = device.quiesce();
        this.ioErrors = new IoErrorEvents(disk);
        this.spaceWait = new SpaceWait(index, disk.image().location(), this::restart, ioErrors);
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
        wake();
        try {
            thread.join(STOP_WAIT_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            LOG.error("queue {}: its I/O has not completed after {} ms; the ring is left to finish it alone",
                    index, STOP_WAIT_MILLIS);
        }
        return queue != null ? queue.lastAvailIdx() : vring.base();
    }

    /** Completes the pending kick read, so a thread waiting on its ring looks at stop and quiesce requests. */
    void wake() {
        try {
            kick.write(1);
        } catch (NativeException e) {
            LOG.warn("queue {}: cannot wake the queue thread: {}", index, e.getMessage());
        }
    }

    /** Whether the thread has ended: it no longer touches the image, so a quiesce need not wait for it. */
    boolean ended() {
        return ended;
    }

    @Override
    public BlockWorker worker() {
        return worker;
    }

    @Override
    public void run() {
        // Closed last, after the ring: the kick read may target kickBuffer until the ring is gone.
        Arena arena = Arena.ofConfined();
        boolean drained = true;
        try {
            try {
                setUp(arena);
            } catch (Throwable e) {
                started.completeExceptionally(e instanceof IOException ? e : new IOException("queue " + index + ": " + e, e));
                drained = drainAfterFailure();
                return;
            }
            started.complete(null);
            LOG.debug("queue {} started: size {}, last_avail_idx {}", index, vring.size(), vring.base());
            loop();
        } catch (Throwable t) {
            drained = fail(t);
        } finally {
            stats.dropped(inFlight); // none after a stop; after a failure, the requests it never completed
            if (drained) {
                closeRing();
                arena.close();
            } else {
                abandon(arena);
            }
            ended = true;
            quiesce.wake();
        }
    }

    /**
     * Stops using guest memory, tells the front-end, and waits for the ring's operations.
     *
     * @return whether every operation but the kick read completed
     */
    private boolean fail(Throwable t) {
        LOG.error("queue {} failed; it stops serving until the front-end restarts it (err eventfd {})", index,
                vring.signalError() ? "signalled" : "not set", t);
        return drainAfterFailure();
    }

    /**
     * Marks the queue failed, then delivers completions until the kernel holds nothing of ours
     * (completions of a failed queue only release their state). The pending kick read is
     * completed by writing the kick eventfd ourselves (it is not re-armed once failed); should
     * that write fail, it is the one operation left, and closing the ring cancels it. A
     * completion that throws still consumed its entry, so this progresses; only the ring itself
     * failing stops it.
     */
    private boolean drainAfterFailure() {
        failed = true;
        if (kickArmed) {
            try {
                kick.write(1);
            } catch (NativeException e) {
                LOG.warn("queue {}: cannot complete its own kick read: {}", index, e.getMessage());
            }
        }
        while (ring != null && ring.inFlight() > (kickArmed ? 1 : 0)) {
            try {
                if (worker != null) {
                    worker.stop(); // ends its storages' standing operations once theirs are done
                }
                throttleTimer.cancel(ring);
                spaceWait.release(ring);
                ring.submitAndWait();
            } catch (NativeException e) {
                LOG.error("queue {}: cannot drain the ring after the failure: {}; its buffers are never freed", index, e.getMessage());
                return false;
            } catch (Throwable t) {
                LOG.debug("queue {}: a completion failed while draining: {}", index, t.toString());
            }
        }
        giveBackDeferred();
        return true;
    }

    /** Keeps what the kernel may still write into reachable forever; closes only the ring's fd. */
    private void abandon(Arena arena) {
        ABANDONED.add(new Object[] {arena, worker, pool, ring});
        if (ring != null) {
            ring.close();
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
            // Logged for every start, zero included: restart tests and operators count what
            // each restart redid, and the line shows the front-end's inflight area was found.
            LOG.info("queue {}: resubmitting {} request(s) left in flight by an earlier back-end", index, resubmit.length);
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
        while (true) {
            if (stopRequested && inFlight > 0) {
                spaceWait.release(ring); // held requests are tried once more, then reported: the stop waits for them
            }
            if (stopRequested && inFlight == 0) {
                worker.stop(); // its storages' own socket receives and eventfd reads end, so the ring drains
                throttleTimer.cancel(ring); // stopping never waits for the I/O limits
                if (ring.inFlight() == 0) {
                    break;
                }
            } else if (inFlight == spaceWait.held() && quiesce.requested()) {
                // Held requests have no I/O under way, and read the size anew when started again.
                parkWhileQuiesced();
                continue;
            }
            ring.submitAndWait();
            if (backlog && inFlight < MAX_IN_FLIGHT) {
                processAvailable(); // no kick will come for what is already available
            }
            publishUsed();
        }
        publishUsed();
        giveBackDeferred();
    }

    /**
     * Parks with nothing in flight and every used entry published, so the guest has all its
     * answers while the image changes; afterwards takes what the guest queued meanwhile (its
     * kicks may have been consumed while this thread did not pop).
     */
    private void parkWhileQuiesced() {
        publishUsed();
        quiesce.park(this, () -> stopRequested);
        if (!stopRequested) {
            processAvailable();
            publishUsed(); // requests refused while parsing completed already; the ring may stay quiet
        }
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
        kickArmed = true;
    }

    /** The kick eventfd fired (or {@link #stop()} woke us). */
    @Override
    public void complete(long tag, int result) {
        kickArmed = false;
        if (stopRequested || failed) {
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
        if (deferred) {
            if (!takingRequests() || heldBack()) {
                return; // after a quiesce, loop() parks and then comes back here
            }
            startRequest(); // the request that waited, now charged
        }
        queue.disableKicks();
        boolean held = false;
        do {
            while (true) {
                if (!takingRequests()) {
                    held = true;
                    break;
                }
                if (inFlight >= MAX_IN_FLIGHT) {
                    backlog = true; // kicks stay off: loop() comes back once requests complete
                    logUsedRing();
                    return;
                }
                int popped = queue.pop(chain);
                if (popped == SplitQueue.BROKEN) {
                    broken = true;
                    LOG.error("queue {}: {}; the queue stops until the front-end resets it (err eventfd {})", index,
                            queue.brokenReason(), vring.signalError() ? "signalled" : "not set");
                    return;
                }
                if (popped == SplitQueue.NO_BUFFER) {
                    break;
                }
                if (heldBack()) {
                    logUsedRing(); // kicks stay off: the throttle timer brings the queue back
                    return;
                }
                startRequest();
            }
        } while (!held && queue.enableKicks());
        // Held back by a quiesce, kicks stay off: like a full queue, loop() comes back to the ring
        // once the quiesce is over, whether or not this thread got to park.
        backlog = held && !stopRequested;
        logUsedRing(); // the kick suppression fields live in the used ring
    }

    /**
     * Asks the disk's throttle about the request in {@link #chain}, popped and not started (one
     * volatile read when the disk is unlimited). If it must wait, it stays there, popping stops,
     * and a timeout on the ring brings the queue back when it may go; the requests in flight
     * keep completing meanwhile, and other queues are not held up.
     */
    private boolean heldBack() {
        Throttle throttle = disk.throttle();
        if (throttle == null) {
            deferred = false;
            return false;
        }
        long now = System.nanoTime();
        long wait = parser.admit(chain, throttle, now);
        deferred = wait > 0;
        if (deferred) {
            throttleTimer.fireWithin(ring, wait, now);
        }
        return deferred;
    }

    private void throttleTimerFired() {
        if (deferred && !stopRequested && !failed) {
            processAvailable();
        }
    }

    /**
     * A request still waiting for the throttle when the queue ends was never started: it goes
     * back to the avail ring (it is the last one popped), so GET_VRING_BASE reports it not
     * consumed and the next back-end takes it. Marks in the inflight area are made only when a
     * request starts, so after a crash the next back-end also takes it from the ring.
     */
    private void giveBackDeferred() {
        if (deferred) {
            deferred = false;
            queue.setLastAvailIdx(queue.lastAvailIdx() - 1); // processing has ended: the rewind is safe
        }
    }

    private boolean takingRequests() {
        return !stopRequested && !quiesce.requested();
    }

    @Override
    public boolean logsWrites() {
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
        r.takenNanos = System.nanoTime();
        stats.taken();
        if (inflight != null) {
            inflight.taken(chain.head());
        }
        parser.start(chain, r);
    }

    /** A request held for space is started again from its chain, which the device still owns. */
    private void restart(BlkRequest r) {
        if (failed) {
            finish(r, S_IOERR, 0); // guest memory is off limits: only released
            return;
        }
        if (retryChain == null) {
            retryChain = queue.newChain(); // once, on the queue's first hold
        }
        if (queue.walkOwned(r.head, retryChain) < 0) {
            finish(r, S_IOERR, 0); // the ring broke meanwhile: the guest is told as far as it still can be
            return;
        }
        parser.start(retryChain, r);
    }

    @Override
    public void finish(BlkRequest r, byte status, int errno) {
        if (status == S_IOERR && !failed && spaceWait.hold(r, errno, disk.enospcPolicy(), ring, System.nanoTime())) {
            return; // still owned, still in flight: started again when the disk may have room
        }
        spaceWait.finished(r, status == S_OK);
        if (status == S_IOERR && !failed) {
            ioErrors.failed(r.type, errno, false, System.nanoTime());
        }
        // A failed queue never tells the guest, so the request counts as failed.
        stats.completed(RequestKind.of(r.type), failed ? RequestStatus.IOERR : RequestStatus.of(status),
                r.data.totalBytes(), System.nanoTime() - r.takenNanos);
        if (failed) {
            // Guest memory may be gone and the rings are no longer ours: only release the request.
            inFlight--;
            pool.push(r);
            return;
        }
        if (status == S_IOERR && errno != 0) {
            LOG.debug("queue {}: request type {} failed: {}", index, r.type, Errno.name(errno));
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

    @Override
    public void discardChain(int head) {
        stage(head, 0);
    }

    private void stage(int head, int length) {
        queue.stageUsed(head, length);
        if (inflight != null) {
            inflight.staged(head);
        }
        usedPending = true;
    }

    @Override
    public void releaseUnstarted(BlkRequest r) {
        spaceWait.finished(r, false); // a held request whose chain turned malformed
        stats.dropped(1);
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

    @Override
    public int index() {
        return index;
    }
}
