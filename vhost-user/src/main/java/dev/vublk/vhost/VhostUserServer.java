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

    private final UnixListener listener;
    private final Supplier<? extends VirtioDevice> devices;
    private volatile boolean stopping;
    private volatile Connection current;

    public VhostUserServer(UnixListener listener, Supplier<? extends VirtioDevice> devices) {
        this.listener = listener;
        this.devices = devices;
    }

    /** Accepts and serves connections until {@link #stop()}. */
    public void run() throws IOException {
        LOG.info("listening for a vhost-user front-end");
        while (!stopping) {
            UnixSocket socket;
            try {
                socket = listener.accept();
            } catch (IOException e) {
                if (stopping) {
                    break;
                }
                throw e;
            }
            Connection connection = new Connection(socket);
            current = connection;
            if (stopping) {
                connection.close();
                break;
            }
            LOG.info("front-end connected");
            try {
                new BackendRequestHandler(connection, devices.get()).run();
            } finally {
                current = null;
                connection.close();
            }
            LOG.info(stopping ? "connection closed for shutdown" : "front-end disconnected; listening again");
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
