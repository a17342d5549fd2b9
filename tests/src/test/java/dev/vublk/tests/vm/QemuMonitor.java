package dev.vublk.tests.vm;

import dev.vublk.control.Json;
import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A QMP client for a test VM's monitor ({@code -qmp unix:PATH,server=on,wait=off}). Every
 * command must get a {@code return}: an {@code error} reply, a closed monitor or no reply within
 * the bound throws {@link VmException} naming the command and QEMU's error class and text.
 * Messages are read on a daemon thread, so every wait is bounded; events are kept for the test.
 */
public final class QemuMonitor implements AutoCloseable {

    /** QEMU answers the commands the tests send at once; a slow TCG host gets time all the same. */
    private static final Duration REPLY = Duration.ofSeconds(30);
    /** query-migrate replies and events are small; a bound keeps a broken peer from filling memory. */
    private static final int MAX_MESSAGE = 1 << 20;
    private static final Map<String, Object> CLOSED = Map.of("closed", true);

    private final Path socket;
    private final SocketChannel channel;
    private final BlockingQueue<Map<String, Object>> replies = new LinkedBlockingQueue<>();
    private final List<Map<String, Object>> events = new ArrayList<>();
    private volatile String readFailure;

    private QemuMonitor(Path socket, SocketChannel channel) {
        this.socket = socket;
        this.channel = channel;
        Thread.ofPlatform().daemon().name("qmp-" + socket.getFileName()).start(this::readLoop);
    }

    /**
     * Connects to the monitor QEMU serves at {@code socket} (waiting up to {@code timeout} for
     * QEMU to create it), reads the greeting and negotiates capabilities.
     */
    public static QemuMonitor connect(Path socket, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            if (Files.exists(socket)) {
                QemuMonitor m;
                try {
                    m = new QemuMonitor(socket, SocketChannel.open(UnixDomainSocketAddress.of(socket)));
                } catch (IOException e) {
                    last = e; // QEMU made the socket but does not accept yet
                    sleep(Duration.ofMillis(100));
                    continue;
                }
                try {
                    m.greetingAndCapabilities();
                    return m;
                } catch (VmException e) {
                    m.close();
                    throw e;
                }
            }
            sleep(Duration.ofMillis(100));
        }
        throw new VmException("no QMP monitor at " + socket + " within " + timeout
                + (last == null ? "" : ": " + last.getMessage()));
    }

    private void greetingAndCapabilities() {
        Map<String, Object> greeting = nextReply("the greeting");
        if (!greeting.containsKey("QMP")) {
            throw new VmException("QMP " + socket + ": the first message is not a greeting: " + Json.write(greeting));
        }
        execute("qmp_capabilities");
    }

    /** Runs a command without arguments; returns its {@code return} value. */
    public Object execute(String command) {
        return execute(command, Map.of());
    }

    /** Runs {@code command}; returns its {@code return} value, throws on anything else. */
    public Object execute(String command, Map<String, Object> arguments) {
        Map<String, Object> msg = new LinkedHashMap<>();
        msg.put("execute", command);
        if (!arguments.isEmpty()) {
            msg.put("arguments", arguments);
        }
        String text = Json.write(msg);
        try {
            ByteBuffer bytes = ByteBuffer.wrap((text + "\n").getBytes(StandardCharsets.UTF_8));
            while (bytes.hasRemaining()) {
                channel.write(bytes);
            }
        } catch (IOException e) {
            throw new VmException("QMP " + socket + ": cannot send " + text + ": " + e.getMessage(), e);
        }
        Map<String, Object> reply = nextReply(text);
        if (reply.get("error") instanceof Map<?, ?> error) {
            throw new VmException("QMP " + socket + ": " + text + " failed: " + error.get("class") + ": " + error.get("desc"));
        }
        if (!reply.containsKey("return")) {
            throw new VmException("QMP " + socket + ": " + text + " got neither return nor error: " + Json.write(reply));
        }
        return reply.get("return");
    }

    /** Runs a command whose {@code return} is an object, e.g. query-migrate. */
    @SuppressWarnings("unchecked") // Json makes objects with String keys only
    public Map<String, Object> query(String command) {
        Object r = execute(command);
        if (!(r instanceof Map<?, ?>)) {
            throw new VmException("QMP " + socket + ": " + command + " returned " + Json.write(r) + ", not an object");
        }
        return (Map<String, Object>) r;
    }

    /** The {@code status} of query-status: running, paused, inmigrate, postmigrate, ... */
    public String runState() {
        return String.valueOf(query("query-status").get("status"));
    }

    /** The names of the events received so far, in order. */
    public synchronized List<String> eventNames() {
        return events.stream().map(e -> String.valueOf(e.get("event"))).toList();
    }

    private Map<String, Object> nextReply(String what) {
        try {
            Map<String, Object> reply = replies.poll(REPLY.toMillis(), TimeUnit.MILLISECONDS);
            if (reply == null) {
                throw new VmException("QMP " + socket + ": no reply to " + what + " within " + REPLY);
            }
            if (reply == CLOSED) {
                replies.add(CLOSED); // later calls fail the same way
                throw new VmException("QMP " + socket + ": the monitor closed before replying to " + what
                        + (readFailure == null ? "" : " (" + readFailure + ")"));
            }
            return reply;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmException("interrupted while waiting for QMP " + socket, e);
        }
    }

    @SuppressWarnings("unchecked") // Json makes objects with String keys only
    private void readLoop() {
        try {
            Json.Reader in = new Json.Reader(new BufferedInputStream(Channels.newInputStream(channel)), MAX_MESSAGE, Json.MAX_DEPTH);
            while (true) {
                Object message = in.next();
                if (!(message instanceof Map<?, ?> map)) {
                    readFailure = "QEMU sent " + Json.write(message) + ", not a QMP message";
                    break;
                }
                if (map.containsKey("event")) {
                    synchronized (this) {
                        events.add((Map<String, Object>) map);
                    }
                } else {
                    replies.add((Map<String, Object>) map);
                }
            }
        } catch (EOFException e) {
            // QEMU quit or closed the monitor
        } catch (IOException e) {
            readFailure = e.getMessage();
        }
        replies.add(CLOSED);
    }

    static void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmException("interrupted", e);
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            // closing a Unix socket we own does not fail in a way a test could act on
        }
    }
}
