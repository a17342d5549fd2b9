package dev.vublk.tests.frontend;

import dev.vublk.uring.EventFd;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.NativeException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Lets a driver thread block on a call eventfd yet notice a deadline: while armed, a shared
 * ticker adds 1 to the eventfd every {@value #TICK_MS} ms, so the blocked read returns and the
 * waiter re-checks its ring and its clock. The write happens under the waiter's lock and the
 * eventfd is closed only after disarming under that lock, so a tick never hits a reused fd.
 */
final class CallWaiter implements AutoCloseable {
    static final int TICK_MS = 50;
    private static final Set<CallWaiter> ARMED = ConcurrentHashMap.newKeySet();

    static {
        Thread ticker = new Thread(() -> {
            while (true) {
                try {
                    Thread.sleep(TICK_MS);
                } catch (InterruptedException e) {
                    return;
                }
                for (CallWaiter w : ARMED) {
                    w.tick();
                }
            }
        }, "call-ticker");
        ticker.setDaemon(true);
        ticker.start();
    }

    private final EventFd call;
    /** Polls the eventfd: a backend may have made it non-blocking (libvhost-user does), so a plain read could fail with EAGAIN. */
    private final IoUring ring;
    private boolean armed;
    private boolean closed;

    CallWaiter(EventFd call) throws NativeException {
        this.call = call;
        this.ring = new IoUring(4);
    }

    /** Blocks until the backend signals or the next tick, then resets the counter. */
    void await() throws NativeException {
        synchronized (this) {
            armed = true;
        }
        ARMED.add(this);
        try {
            ring.pollAdd(call.fd(), IoUring.POLLIN, (tag, result) -> { }, 0);
            ring.submitAndWait();
            call.read(); // readable now, so this does not block even on a blocking descriptor
        } finally {
            ARMED.remove(this);
            synchronized (this) {
                armed = false;
            }
        }
    }

    private synchronized void tick() {
        if (armed && !closed) {
            try {
                call.write(1);
            } catch (NativeException ignored) {
                // the waiter re-checks its deadline on its own next time
            }
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        ARMED.remove(this);
        ring.close();
        call.close();
    }
}
