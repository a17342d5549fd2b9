package dev.vublk.vhost.blk;

import java.util.Collection;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

/**
 * Holds a device's queue threads still while the image changes under them (an online resize).
 * Once {@link #request()}ed, a queue thread pops no new request, lets the ones in flight complete
 * (other queues may need them to finish theirs), publishes their used entries, and then
 * {@link #park}s: blocked here, outside its ring, touching neither the image nor guest memory.
 * The controller waits, bounded, until every queue has parked (or ended), changes the image, and
 * {@link #release()}s them. Requests the guest makes meanwhile wait in the rings.
 */
final class QueueQuiesce {
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Set<Object> parked = new HashSet<>();
    private volatile boolean requested;

    /** Whether queue threads must stop popping requests: read on every pop, so a volatile flag. */
    boolean requested() {
        return requested;
    }

    void request() {
        requested = true;
    }

    /**
     * Called by a queue thread with nothing in flight; returns once released, or at once when
     * {@code leave} says the queue is stopping.
     */
    void park(Object queue, BooleanSupplier leave) {
        lock.lock();
        try {
            parked.add(queue);
            changed.signalAll();
            while (requested && !leave.getAsBoolean()) {
                changed.awaitUninterruptibly();
            }
        } finally {
            parked.remove(queue);
            lock.unlock();
        }
    }

    /** A queue's state changed (it is stopping or its thread ended): waiters look again. */
    void wake() {
        lock.lock();
        try {
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until each of {@code queues} is parked or {@code ended}, at most {@code timeoutNanos}.
     *
     * @return the first queue still running at the deadline, or null when all are quiet
     */
    <Q> Q awaitParked(Collection<Q> queues, Predicate<Q> ended, long timeoutNanos) throws InterruptedException {
        long left = timeoutNanos;
        lock.lock();
        try {
            while (true) {
                Q running = null;
                for (Q q : queues) {
                    if (!parked.contains(q) && !ended.test(q)) {
                        running = q;
                        break;
                    }
                }
                if (running == null || left <= 0) {
                    return running;
                }
                left = changed.awaitNanos(left);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Lets every parked queue go on. */
    void release() {
        lock.lock();
        try {
            requested = false;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }
}
