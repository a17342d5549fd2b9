package dev.vublk.vhost;

import dev.vublk.uring.UnixListener;
import dev.vublk.uring.UnixSocket;
import java.io.IOException;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves one front-end at a time and listens again after each disconnect, so a VMM with
 * {@code reconnect=N} (or a restarted VMM) finds the back-end still there.
 */
public final class VhostUserServer {
    private static final Logger LOG = LoggerFactory.getLogger(VhostUserServer.class);

    private static final long MIN_PAUSE_MILLIS = 50, MAX_PAUSE_MILLIS = 1000;

    private final UnixListener listener;
    private final Supplier<? extends VirtioDevice> devices;
    private volatile boolean stopping;
    private volatile Connection current;

    public VhostUserServer(UnixListener listener, Supplier<? extends VirtioDevice> devices) {
        this.listener = listener;
        this.devices = devices;
    }

    /**
     * Accepts and serves connections until {@link #stop()}. A failed accept (EMFILE, ENOMEM...)
     * is logged and retried after a short pause, and whatever ends a connection, the next one is
     * accepted: only a stop, or a listener closed under us, ends this loop.
     */
    public void run() {
        LOG.info("listening for a vhost-user front-end");
        long pauseMillis = MIN_PAUSE_MILLIS;
        while (!stopping && !Thread.currentThread().isInterrupted()) {
            UnixSocket socket;
            try {
                socket = listener.accept();
                pauseMillis = MIN_PAUSE_MILLIS;
            } catch (IOException e) {
                if (stopping || listener.isClosed()) {
                    break;
                }
                LOG.warn("accepting a connection failed ({}); retrying in {} ms", e.getMessage(), pauseMillis);
                pause(pauseMillis);
                pauseMillis = Math.min(MAX_PAUSE_MILLIS, pauseMillis * 2);
                continue;
            }
            serve(socket);
        }
    }

    private void serve(UnixSocket socket) {
        Connection connection = new Connection(socket);
        current = connection;
        try {
            if (stopping) {
                return;
            }
            LOG.info("front-end connected");
            new BackendRequestHandler(connection, devices.get()).run();
            LOG.info(stopping ? "connection closed for shutdown" : "front-end disconnected; listening again");
        } catch (RuntimeException | Error e) {
            // The handler catches what happens while serving; this is the device factory failing.
            LOG.error("cannot serve the front-end; listening again", e);
        } finally {
            current = null;
            connection.close();
        }
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Ends the current connection (stopping its queues) and the accept loop; safe from any thread. */
    public void stop() {
        stopping = true;
        Connection c = current;
        if (c != null) {
            c.shutdown();
        }
        listener.close();
    }
}
