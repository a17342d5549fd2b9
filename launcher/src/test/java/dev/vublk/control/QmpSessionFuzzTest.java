package dev.vublk.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.read.ListAppender;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vublk.uring.Fds;
import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.slf4j.LoggerFactory;

/**
 * Fuzzes the control socket: the input is the bytes one client sends, written to a real
 * {@link ControlServer} (a Unix socket, {@link DiskCommands} over a 1 MiB sparse RAW image, both
 * new for each input so that {@code block_resize} and throttles do not carry over) before the
 * client shuts its sending side.
 *
 * <p>Contract: every line the server sends is JSON our {@link Json} reader parses, of QMP's
 * shapes (the greeting, then one {@code return} or {@code error} per message in order, each
 * echoing the message's {@code id}, a last parse error if the input stops being JSON, and
 * events); the connection ends within {@value #SECONDS} seconds; no thread dies of an uncaught
 * exception and nothing is logged as an internal error; a well-behaved client connected
 * afterwards gets {@code query-status} answered; no descriptor stays open.
 */
class QmpSessionFuzzTest {
    static final int SECONDS = 10;
    private static final Set<String> ERROR_MEMBERS = Set.of("class", "desc");
    private static final Set<String> EVENT_MEMBERS = Set.of("event", "data", "timestamp");

    private static final Logger LOGS = (Logger) LoggerFactory.getLogger("dev.vublk");
    private static final ListAppender<ILoggingEvent> ERRORS = new ListAppender<>();
    private static final List<Throwable> UNCAUGHT = new ArrayList<>();
    /** What quit asks of the process: only counted here, as stopping would end the campaign. */
    private static final AtomicInteger QUITS = new AtomicInteger();

    private static Path dir;
    private static Level level;
    private static boolean additive;
    private static Thread.UncaughtExceptionHandler handler;

    @BeforeAll
    static void setUp() throws Exception {
        dir = Files.createTempDirectory("vublk-qmpfuzz");
        // Every refusal is logged (millions of lines in a campaign); errors mean a bug and are kept.
        level = LOGS.getLevel();
        additive = LOGS.isAdditive();
        LOGS.setLevel(Level.ERROR);
        LOGS.setAdditive(false);
        ERRORS.list = Collections.synchronizedList(new ArrayList<>()); // appended to by the server's threads
        ERRORS.start();
        LOGS.addAppender(ERRORS);
        handler = Thread.getDefaultUncaughtExceptionHandler();
        Thread.setDefaultUncaughtExceptionHandler((t, e) -> {
            synchronized (UNCAUGHT) {
                UNCAUGHT.add(e);
            }
        });
        // The JDK opens descriptors of its own on first use (the virtual threads' pollers):
        // one exchange before any count is taken.
        session("{\"execute\": \"qmp_capabilities\"}".getBytes(StandardCharsets.US_ASCII));
    }

    @AfterAll
    static void tearDown() throws IOException {
        Thread.setDefaultUncaughtExceptionHandler(handler);
        LOGS.detachAppender(ERRORS);
        LOGS.setAdditive(additive);
        LOGS.setLevel(level);
        Files.deleteIfExists(dir.resolve("disk.raw"));
        Files.deleteIfExists(dir);
    }

    @FuzzTest
    void clientBytes(byte[] input) throws Exception {
        int before = Fds.openCount();
        ERRORS.list.clear(); // an input's finding is its own
        synchronized (UNCAUGHT) {
            UNCAUGHT.clear();
        }
        session(input);
        // Closing a channel another thread is blocked on frees its descriptor when that thread leaves.
        Awaitility.await().pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1)).atMost(SECONDS, TimeUnit.SECONDS)
                .untilAsserted(() -> assertEquals(before, Fds.openCount(), "descriptors left open"));
        checkServerThreads(); // again: a thread's death is reported only after it unwound, maybe after its channel closed
    }

    /** Serves one fuzzed client, then a good one, on a server and disk of their own. */
    private static void session(byte[] input) throws Exception {
        Path socket = dir.resolve("qmp.sock");
        try (TestDisk disk = TestDisk.raw(dir, 1 << 20);
             ControlServer server = ControlServer.start(socket, DiskCommands.of(disk.disk()), "vhost-user-blk 0.1.0-fuzz",
                     QUITS::incrementAndGet)) {
            Exchange exchange = within("the fuzzed client's exchange", server, () -> exchange(socket, input));
            checkServerThreads();
            checkReplies(input, exchange);
            String status = within("the good client's query-status", server, () -> {
                try (QmpTestClient good = QmpTestClient.negotiated(socket)) {
                    return good.request("{\"execute\": \"query-status\", \"id\": \"after\"}");
                }
            });
            assertEquals("{\"return\": {\"running\": false, \"status\": \"prelaunch\"}, \"id\": \"after\"}", status);
        }
    }

    /** The server's threads saw no bug: none died, none logged an internal error. */
    private static void checkServerThreads() {
        synchronized (UNCAUGHT) {
            assertTrue(UNCAUGHT.isEmpty(), () -> "a server thread died: " + UNCAUGHT);
        }
        assertTrue(ERRORS.list.isEmpty(), () -> "internal error logged: " + ERRORS.list.getFirst().getFormattedMessage()
                + ": " + ThrowableProxyUtil.asString(ERRORS.list.getFirst().getThrowableProxy()));
    }

    /**
     * Runs a step on a thread of its own for at most {@value #SECONDS} seconds; past that the
     * server is closed, which ends the step's blocked reads, and the input fails.
     */
    private static <T> T within(String what, ControlServer server, Callable<T> step) throws Exception {
        FutureTask<T> task = new FutureTask<>(step);
        Thread.ofVirtual().name("qmpfuzz-client").start(task);
        try {
            return task.get(SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            server.close();
            throw new AssertionError(what + " did not end within " + SECONDS + " s");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception x) {
                throw x;
            }
            throw new AssertionError(what + " failed", e.getCause());
        }
    }

    /**
     * What the fuzzed client received: every line until the server closed.
     *
     * @param reset the server closed with input of ours unread, so the end came as a reset
     *              (after whatever it sent before) instead of the end of the stream
     */
    private record Exchange(List<String> lines, boolean reset) {}

    /** Sends the input, shuts the sending side and returns every line until the server closes. */
    private static Exchange exchange(Path socket, byte[] input) throws Exception {
        try (QmpTestClient client = new QmpTestClient(socket)) {
            List<String> lines = new ArrayList<>();
            // Read while writing: replies come as messages arrive, and the server drops a client
            // whose replies go unread.
            FutureTask<Boolean> reader = new FutureTask<>(() -> {
                try {
                    String l;
                    while ((l = client.lineOrNull()) != null) {
                        lines.add(l);
                    }
                    return false;
                } catch (SocketException e) {
                    if (!"Connection reset".equals(e.getMessage())) {
                        throw e;
                    }
                    return true;
                }
            });
            Thread.ofVirtual().name("qmpfuzz-reader").start(reader);
            try {
                client.send(input);
                client.shutdownOutput();
            } catch (IOException e) {
                // the server ended the connection after a broken message while we were still sending
            }
            return new Exchange(lines, reader.get());
        }
    }

    /** Checks the lines against the messages the input holds, framed as the server frames them. */
    private static void checkReplies(byte[] input, Exchange exchange) throws IOException {
        List<String> lines = exchange.lines();
        List<Object> messages = new ArrayList<>();
        boolean broken = false;
        Json.Reader reader = new Json.Reader(new ByteArrayInputStream(input), Json.MAX_MESSAGE, Json.MAX_DEPTH);
        try {
            while (true) {
                messages.add(reader.next());
            }
        } catch (EOFException e) {
            // the input ended between messages
        } catch (Json.MalformedException e) {
            broken = true;
        }
        assertTrue(!exchange.reset() || broken, "the server reset a connection whose input was all valid JSON");
        assertTrue(!lines.isEmpty(), "no greeting");
        Map<String, Object> greeting = object(lines.getFirst());
        assertEquals(Set.of("QMP"), greeting.keySet(), lines.getFirst());
        int next = 0;
        for (String line : lines.subList(1, lines.size())) {
            Map<String, Object> m = object(line);
            if (m.containsKey("event")) {
                assertTrue(EVENT_MEMBERS.containsAll(m.keySet()), line);
                assertInstanceOf(String.class, m.get("event"), line);
                Map<?, ?> timestamp = assertInstanceOf(Map.class, m.get("timestamp"), line);
                assertInstanceOf(Long.class, timestamp.get("seconds"), line);
                assertInstanceOf(Long.class, timestamp.get("microseconds"), line);
                continue;
            }
            if (next == messages.size()) {
                assertTrue(broken, "a reply to no message: " + line);
                assertEquals(Set.of("error"), m.keySet(), line);
                checkError(m, line);
                next++;
                continue;
            }
            assertTrue(next < messages.size(), "a reply after the parse error: " + line);
            Object message = messages.get(next++);
            String body = m.containsKey("return") ? "return" : "error";
            if (message instanceof Map<?, ?> msg && msg.containsKey("id")) {
                assertEquals(Set.of(body, "id"), m.keySet(), line);
                assertEquals(Json.write(msg.get("id")), Json.write(m.get("id")), "id not echoed verbatim: " + line);
            } else {
                assertEquals(Set.of(body), m.keySet(), line);
            }
            if (body.equals("error")) {
                checkError(m, line);
            }
        }
        assertEquals(messages.size() + (broken ? 1 : 0), next, "replies: " + lines);
    }

    private static void checkError(Map<String, Object> m, String line) {
        Map<?, ?> error = assertInstanceOf(Map.class, m.get("error"), line);
        assertEquals(ERROR_MEMBERS, error.keySet(), line);
        assertInstanceOf(String.class, error.get("class"), line);
        String desc = assertInstanceOf(String.class, error.get("desc"), line);
        assertTrue(!desc.isEmpty(), line);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(String line) {
        try {
            return assertInstanceOf(Map.class, Json.parse(line), line);
        } catch (Json.MalformedException e) {
            return fail("a reply that is not JSON (" + e.getMessage() + "): " + line);
        }
    }
}
