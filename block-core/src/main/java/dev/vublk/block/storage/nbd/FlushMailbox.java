package dev.vublk.block.storage.nbd;

import dev.vublk.uring.EventFd;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.NativeException;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Consumer;

/**
 * How queues of a volume whose server lacks CAN_MULTI_CONN ask each other for flushes: a flush
 * on one connection does not cover writes completed on another, and a queue never sends on
 * another thread's socket. Messages go into a queue and an eventfd that the receiving queue's
 * ring polls, so they are handled on that queue's thread. The poll is a standing operation,
 * ended by {@link #close}.
 */
final class FlushMailbox implements IoCompletion {
    /** Queue {@code from} asks for a flush on this queue's connection, a part of its {@code op}. */
    record Request(NbdQueue from, NbdOp op) {}

    /** The answer to a {@link Request}, delivered to the asking queue. */
    record Reply(NbdOp op, int result) {}

    private final IoUring ring;
    private final EventFd wake;
    private final ConcurrentLinkedQueue<Object> posted = new ConcurrentLinkedQueue<>();
    private final Consumer<Object> deliver;
    private boolean armed;
    private boolean closed;

    FlushMailbox(IoUring ring, Consumer<Object> deliver) throws NativeException {
        this.ring = ring;
        this.deliver = deliver;
        this.wake = EventFd.create(EventFd.EFD_NONBLOCK);
    }

    /** Puts the poll on the ring. */
    void arm() throws NativeException {
        if (!armed && !isClosed()) {
            ring.pollAdd(wake.fd(), IoUring.POLLIN, this, 0);
            armed = true;
        }
    }

    /** Hands a message to this queue's thread; false if the mailbox is closed (callable from any thread). */
    synchronized boolean post(Object message) {
        if (closed) {
            return false;
        }
        posted.add(message);
        try {
            wake.write(1);
        } catch (NativeException e) {
            throw new IllegalStateException("cannot wake an NBD queue thread", e);
        }
        return true;
    }

    private synchronized boolean isClosed() {
        return closed;
    }

    @Override
    public void complete(long tag, int res) {
        armed = false;
        try {
            wake.read();
        } catch (NativeException e) {
            // EAGAIN: an earlier wake-up already reset the counter
        }
        Object m;
        while ((m = posted.poll()) != null) {
            deliver.accept(m);
        }
        try {
            arm();
        } catch (NativeException e) {
            throw new IllegalStateException("cannot poll an NBD queue's mailbox", e);
        }
    }

    /**
     * Takes no more messages and ends the poll (a write completes it); messages already posted
     * are still delivered, so every request gets its answer.
     */
    void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        if (armed) {
            try {
                wake.write(1);
            } catch (NativeException e) {
                throw new IllegalStateException("cannot end an NBD queue's mailbox poll", e);
            }
        } else {
            Object m;
            while ((m = posted.poll()) != null) {
                deliver.accept(m);
            }
        }
    }

    /** Frees the eventfd; the ring has drained. */
    void free() {
        wake.close();
    }
}
