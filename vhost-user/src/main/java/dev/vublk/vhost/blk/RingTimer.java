package dev.vublk.vhost.blk;

import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.NativeException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A timer of a queue: an io_uring timeout on the queue's own ring, so a wait blocks neither the
 * thread (completions of the requests in flight keep coming) nor other queues. One brings back
 * a request waiting for the disk's {@link Throttle}, one retries requests held for disk space
 * ({@link SpaceWait}). Used by the queue thread only.
 */
final class RingTimer implements IoCompletion {
    private static final IoCompletion IGNORE = (tag, result) -> {};

    private final Runnable fired;
    /** The timeout's timespec: the kernel may read it until the timeout completes. */
    private final MemorySegment spec = Arena.ofAuto().allocate(16, 8);
    private boolean armed;
    private boolean cancelled;
    private int id;
    private long due;

    /** @param fired runs on the queue thread each time the timer completes, expired or cancelled */
    RingTimer(Runnable fired) {
        this.fired = fired;
    }

    /**
     * Makes the timer fire no later than {@code wait} nanoseconds after {@code now}. One armed
     * for later (e.g. the limits were raised meanwhile) is cancelled, which fires it at once, so
     * the queue asks again and arms it anew.
     */
    void fireWithin(IoUring ring, long wait, long now) {
        try {
            if (!armed) {
                id = ring.timeout(spec, wait, this, 0);
                armed = true;
                due = now + wait;
            } else if (due - (now + wait) > 0) {
                cancel(ring);
            }
        } catch (NativeException e) {
            throw new IllegalStateException("cannot arm a queue timer", e);
        }
    }

    /** Ends a wait early (the queue stops): the timer completes at once, cancelled. */
    void cancel(IoUring ring) throws NativeException {
        if (armed && !cancelled) {
            cancelled = true; // not asked twice, even if this fails: the ring is then unusable anyway
            ring.cancel(id, IGNORE, 0);
        }
    }

    @Override
    public void complete(long tag, int result) {
        armed = false;
        cancelled = false;
        fired.run();
    }
}
