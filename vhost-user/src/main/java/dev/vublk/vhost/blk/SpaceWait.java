package dev.vublk.vhost.blk;

import dev.vublk.uring.Errno;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.NativeException;
import java.util.ArrayDeque;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The requests of one queue held because the disk had no space, under
 * {@link EnospcPolicy.Action#WAIT}. A held request stays owned by the device (popped, not used,
 * still marked in the inflight area); every retry interval a {@link RingTimer} on the queue's
 * ring starts each again from its descriptor chain, until it gets through or has waited the
 * policy's maximum, when the guest hears of the error. Nothing blocks meanwhile: the queue
 * takes and completes other requests, and other queues and the control path never wait on it.
 *
 * <p>One WARN line when the queue starts holding, one INFO line when it holds nothing any more,
 * whatever the number of requests. A stopping (or failed) queue {@link #release}s them: each
 * is tried once more at once, and what still fails is reported, so the front-end gets every
 * request back. Used by the queue thread only.
 */
final class SpaceWait {
    private static final Logger LOG = LoggerFactory.getLogger(SpaceWait.class);

    private final int queue;
    private final String image;
    /** Starts a held request again on the queue thread (it completes through the queue as ever). */
    private final Consumer<BlkRequest> restart;
    private final IoErrorEvents events;
    private final RingTimer timer = new RingTimer(this::retry);
    private final ArrayDeque<BlkRequest> held = new ArrayDeque<>();
    /** Requests held at least once and not finished: held now, or started again and in flight. */
    private int waiting;
    private long since;
    private int completed;
    private int reported;
    /** Set by {@link #release}: nothing is held any more. */
    private boolean releasing;

    SpaceWait(int queue, String image, Consumer<BlkRequest> restart, IoErrorEvents events) {
        this.queue = queue;
        this.image = image;
        this.restart = restart;
        this.events = events;
    }

    /**
     * Holds {@code r}, which just failed with {@code errno}, if {@code policy} says so: a
     * request changing the disk that found no space, and has not yet waited the maximum.
     *
     * @return whether it is held: the caller must not complete it
     */
    boolean hold(BlkRequest r, int errno, EnospcPolicy policy, IoUring ring, long now) {
        if (releasing || policy.action() != EnospcPolicy.Action.WAIT || !Errno.isNoSpace(errno) || !changesDisk(r.type)) {
            return false;
        }
        if (!r.heldForSpace) {
            r.heldForSpace = true;
            r.heldSince = now;
            if (waiting++ == 0) {
                since = now;
                completed = 0;
                reported = 0;
                LOG.warn("queue {}: {}: no space for writes ({}); holding such requests and retrying every {} ms, each for"
                        + " at most {} s, before the guest gets an I/O error (--on-enospc wait)", queue, image,
                        Errno.name(errno), policy.retryInterval().toMillis(), policy.maxWait().toSeconds());
                events.failed(r.type, errno, true, now);
            }
        } else if (now - r.heldSince >= policy.maxWait().toNanos()) {
            return false;
        }
        held.add(r);
        timer.fireWithin(ring, policy.retryInterval().toNanos(), now);
        return true;
    }

    /** Called for every request that completes to the guest (or is dropped): ends its hold, if it had one. */
    void finished(BlkRequest r, boolean ok) {
        if (!r.heldForSpace) {
            return;
        }
        r.heldForSpace = false;
        if (ok) {
            completed++;
        } else {
            reported++;
        }
        if (--waiting == 0) {
            LOG.info("queue {}: {}: no request held for space any more, after {} ms: {} completed, {} reported as I/O"
                    + " errors", queue, image, (System.nanoTime() - since) / 1_000_000, completed, reported);
        }
    }

    /** Requests held now (not those started again and in flight). */
    int held() {
        return held.size();
    }

    /**
     * The queue stops or failed: holds nothing more, and fires the timer at once so each held
     * request is tried once more and, failing again, reported.
     */
    void release(IoUring ring) throws NativeException {
        releasing = true;
        timer.cancel(ring);
    }

    private void retry() {
        for (int n = held.size(); n > 0; n--) {
            restart.accept(held.poll()); // may fail at once and be held again, behind the others
        }
    }

    /** Requests that may need room on the disk; a read never does. */
    private static boolean changesDisk(int type) {
        return switch (type) {
            case BlkRequestType.OUT, BlkRequestType.FLUSH, BlkRequestType.DISCARD, BlkRequestType.WRITE_ZEROES -> true;
            default -> false;
        };
    }
}
