package dev.vublk.block.qcow2;

import dev.vublk.uring.EventFd;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.NativeException;
import java.io.IOException;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Resumes work on a queue thread when another queue finishes an allocation this one waits for:
 * the committing thread posts the retry and writes an eventfd that this queue's ring polls, so
 * the retry runs on the right thread without it ever blocking.
 */
final class QueueWakeup {
    private final IoUring ring;
    private final EventFd wake;
    private final ConcurrentLinkedQueue<Runnable> posted = new ConcurrentLinkedQueue<>();
    private int waiting;
    private boolean pollArmed;

    QueueWakeup(IoUring ring) throws IOException {
        this.ring = ring;
        this.wake = EventFd.create(EventFd.EFD_NONBLOCK);
    }

    /** Runs {@code resume} on this queue's thread once {@code a} has committed or failed. */
    void after(QcowMetadata meta, PendingAllocation a, Runnable resume) throws NativeException {
        waiting++;
        if (!meta.await(a, () -> post(resume))) {
            post(resume);
        }
        armPoll();
    }

    /** Hands {@code task} to this queue's thread; callable from any thread. */
    private void post(Runnable task) {
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

    void close() {
        wake.close();
    }
}
