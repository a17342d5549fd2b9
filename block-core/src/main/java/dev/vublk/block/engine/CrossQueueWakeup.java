package dev.vublk.block.engine;

import dev.vublk.block.Pending;
import dev.vublk.block.Mapping;
import dev.vublk.uring.EventFd;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.NativeException;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Resumes work on a queue thread when another queue finishes what this one waits for (an
 * allocation of the same range, a metadata write-back):
 * the committing thread posts the retry and writes an eventfd that this queue's ring polls, so
 * the retry runs on the right thread without it ever blocking. The eventfd is made on the first
 * wait: images without allocations never need one.
 */
final class CrossQueueWakeup {
    private final IoUring ring;
    private final ConcurrentLinkedQueue<Runnable> posted = new ConcurrentLinkedQueue<>();
    private EventFd wake;
    private int waiting;
    private boolean pollArmed;
    private boolean closed;

    CrossQueueWakeup(IoUring ring) {
        this.ring = ring;
    }

    /** Runs {@code resume} on this queue's thread once {@code a} is over. */
    void after(Mapping mapping, Pending a, Runnable resume) throws NativeException {
        if (wake == null) {
            wake = EventFd.create(EventFd.EFD_NONBLOCK);
        }
        waiting++;
        if (!mapping.await(a, () -> post(resume))) {
            post(resume);
        }
        armPoll();
    }

    /**
     * Hands {@code task} to this queue's thread; callable from any thread. A queue that closed
     * meanwhile (it failed and drained with requests still waiting) drops the task: the thread
     * committing the allocation must not fail for it, nor write to a descriptor number that may
     * already name another file.
     */
    private synchronized void post(Runnable task) {
        if (closed) {
            return;
        }
        posted.add(task);
        try {
            wake.write(1);
        } catch (NativeException e) {
            throw new IllegalStateException("cannot wake queue thread", e);
        }
    }

    private void armPoll() throws NativeException {
        if (!pollArmed) {
            pollArmed = true;
            ring.pollAdd(wake.fd(), IoUring.POLLIN, (t, res) -> woken(), 0);
        }
    }

    private void woken() {
        pollArmed = false;
        try {
            wake.read();
        } catch (NativeException e) {
            // EAGAIN: the counter was already reset by an earlier wake-up.
        }
        Runnable task;
        while ((task = posted.poll()) != null) {
            waiting--;
            task.run();
        }
        if (waiting > 0) {
            try {
                armPoll();
            } catch (NativeException e) {
                throw new IllegalStateException("cannot poll the wake-up eventfd", e);
            }
        }
    }

    synchronized void close() {
        closed = true;
        if (wake != null) {
            wake.close();
        }
    }
}
