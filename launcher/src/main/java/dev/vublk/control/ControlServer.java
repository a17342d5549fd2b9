package dev.vublk.control;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The control socket: QMP over a Unix socket of mode 0600. Each client has a reader and a writer
 * thread of its own (virtual threads), so a client that stalls, floods or breaks the protocol
 * costs its own connection only; the data path never waits on this server. Up to
 * {@link #MAX_CLIENTS} clients at once; the next one is told why and closed.
 */
public final class ControlServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ControlServer.class);

    public static final int MAX_CLIENTS = 16;
    /** How long closing waits for each client to receive what was queued for it (SHUTDOWN after quit). */
    private static final long DRAIN_MILLIS = 500;
    private static final long ACCEPT_RETRY_MILLIS = 100;

    private final Path path;
    private final Object socketKey;
    private final ServerSocketChannel listener;
    private final QmpDispatcher dispatcher;
    private final Set<QmpSession> sessions = ConcurrentHashMap.newKeySet();
    private final Set<Thread> writers = ConcurrentHashMap.newKeySet();
    private final Thread acceptor;
    private volatile boolean closed;

    private ControlServer(Path path, ServerSocketChannel listener, Map<String, QmpCommand> commands, String packageName,
                          Runnable onQuit) throws IOException {
        this.path = path;
        this.listener = listener;
        this.socketKey = PrivateSocket.fileKey(path);
        this.dispatcher = new QmpDispatcher(commands, packageName, this::emit, onQuit);
        this.acceptor = Thread.ofVirtual().name("qmp-accept").unstarted(this::acceptLoop);
    }

    /**
     * Listens at {@code path} and serves until {@link #close()}.
     *
     * @param commands    the commands beside the protocol's own, by QMP name
     * @param packageName the version text ({@code query-version}'s {@code package})
     * @param onQuit      what {@code quit} asks for once it replied and sent SHUTDOWN
     */
    public static ControlServer start(Path path, Map<String, QmpCommand> commands, String packageName, Runnable onQuit)
            throws IOException {
        ServerSocketChannel listener = PrivateSocket.listen(path, MAX_CLIENTS);
        ControlServer server;
        try {
            server = new ControlServer(path.toAbsolutePath(), listener, commands, packageName, onQuit);
        } catch (IOException | RuntimeException e) {
            listener.close();
            Files.deleteIfExists(path);
            throw e;
        }
        server.acceptor.start();
        LOG.info("control socket (QMP) listening on {}", path);
        return server;
    }

    public Path path() {
        return path;
    }

    /**
     * Sends an event to every client past capabilities negotiation, without waiting for any of
     * them; safe from any thread.
     *
     * @param data the event's {@code data} member, or null for an event without one
     */
    public void emit(String event, Map<String, Object> data) {
        Objects.requireNonNull(event, "event");
        Instant now = Instant.now();
        Map<String, Object> timestamp = new LinkedHashMap<>();
        timestamp.put("seconds", now.getEpochSecond());
        timestamp.put("microseconds", (long) now.getNano() / 1000);
        Map<String, Object> message = new LinkedHashMap<>();
        message.put("event", event);
        if (data != null) {
            message.put("data", data);
        }
        message.put("timestamp", timestamp);
        String json = Json.write(message);
        for (QmpSession s : sessions) {
            if (s.negotiated()) {
                s.send(json);
            }
        }
    }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel channel;
            try {
                channel = listener.accept();
            } catch (ClosedChannelException e) {
                return; // closed by close(), possibly while waiting (AsynchronousCloseException)
            } catch (IOException e) {
                LOG.warn("accepting a control client failed ({}); retrying", e.getMessage());
                pause();
                continue;
            }
            if (sessions.size() >= MAX_CLIENTS) {
                refuse(channel);
                continue;
            }
            QmpSession session = new QmpSession(dispatcher, channel);
            sessions.add(session);
            Thread writer = Thread.ofVirtual().name("qmp-writer").unstarted(() -> {
                try {
                    session.writer().run();
                } finally {
                    sessions.remove(session);
                    writers.remove(Thread.currentThread());
                }
            });
            writers.add(writer);
            writer.start();
            Thread.ofVirtual().name("qmp-reader").start(session::serve);
            if (closed) {
                session.close(); // close() may have looked at the sessions before this one joined
            }
        }
    }

    /** Tells a client over the limit why, without waiting on it, and closes it. */
    private static void refuse(SocketChannel channel) {
        LOG.warn("control client refused: {} clients are connected already", MAX_CLIENTS);
        try (channel) {
            channel.configureBlocking(false);
            String reply = Json.write(QmpDispatcher.error(QmpException.GENERIC,
                    "too many control clients (" + MAX_CLIENTS + " connected); try again later")) + "\r\n";
            channel.write(ByteBuffer.wrap(reply.getBytes(StandardCharsets.US_ASCII)));
        } catch (IOException e) {
            // the refused client went away first
        }
    }

    private static void pause() {
        try {
            Thread.sleep(ACCEPT_RETRY_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Stops accepting, removes the socket file (if it is still ours), lets each client receive
     * what was queued for it for a short while, then ends every connection.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            listener.close();
        } catch (IOException e) {
            LOG.debug("closing the control socket", e);
        }
        removeSocketFile();
        sessions.forEach(QmpSession::finish);
        long deadline = System.nanoTime() + DRAIN_MILLIS * 1_000_000;
        for (Thread w : writers) {
            long left = deadline - System.nanoTime();
            try {
                if (left <= 0 || !w.join(java.time.Duration.ofNanos(left))) {
                    break;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        sessions.forEach(QmpSession::close);
    }

    private void removeSocketFile() {
        try {
            if (socketKey.equals(PrivateSocket.fileKey(path))) {
                Files.delete(path);
            }
        } catch (IOException e) {
            // gone already, or replaced by another process: not ours to remove
        }
    }
}
