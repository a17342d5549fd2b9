package dev.vublk.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** QMP framing, negotiation and isolation of clients, over raw sockets. */
@Timeout(120) // a guard against a hang only; nothing here measures time
class ControlServerTest {
    static final String GREETING = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 1, \"major\": 0},"
            + " \"package\": \"vhost-user-blk 0.1.0-test\"}, \"capabilities\": []}}";

    @TempDir
    Path dir;

    Path socket;
    TestDisk disk;
    ControlServer server;
    final CountDownLatch quitRequested = new CountDownLatch(1);

    @BeforeEach
    void start() throws IOException {
        socket = dir.resolve("qmp.sock");
        disk = TestDisk.raw(dir, 1 << 20);
        server = ControlServer.start(socket, DiskCommands.of(disk.disk()), "vhost-user-blk 0.1.0-test", quitRequested::countDown);
    }

    @AfterEach
    void stop() throws IOException {
        server.close();
        disk.close();
    }

    @Test
    void greetingHasQemusShapeAndEndsWithCrLf() throws IOException {
        try (QmpTestClient c = new QmpTestClient(socket)) {
            assertEquals(GREETING, c.line());
        }
    }

    @Test
    void onlyQmpCapabilitiesIsAcceptedBeforeNegotiation() throws IOException {
        try (QmpTestClient c = QmpTestClient.connect(socket)) {
            assertEquals("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting capabilities negotiation with"
                    + " 'qmp_capabilities'\"}, \"id\": 7}", c.request("{\"execute\": \"query-status\", \"id\": 7}"));
            assertEquals("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting capabilities negotiation with"
                    + " 'qmp_capabilities'\"}}", c.request("{\"execute\": \"no-such-command\"}"));
            assertEquals("{\"error\": {\"class\": \"GenericError\", \"desc\": \"Capability 'oob' not available\"}}",
                    c.request("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}"));
            assertEquals("{\"return\": {}, \"id\": \"n\"}", c.request("{\"execute\": \"qmp_capabilities\", \"id\": \"n\"}"));
            assertEquals("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities negotiation is already complete,"
                    + " command ignored\"}}", c.request("{\"execute\": \"qmp_capabilities\"}"));
            assertEquals("{\"return\": {\"running\": false, \"status\": \"prelaunch\"}}",
                    c.request("{\"execute\": \"query-status\"}"));
        }
    }

    @Test
    void idIsEchoedVerbatimWhateverItsType() throws IOException {
        try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
            for (String id : List.of("\"abc\"", "-12", "1.5", "null", "true", "[1, {\"k\": \"v\"}]", "{\"a\": {}}", "\"\\u00e9\\n\"")) {
                String reply = c.request("{\"id\": " + id + ", \"execute\": \"query-status\"}");
                assertEquals("{\"return\": {\"running\": false, \"status\": \"prelaunch\"}, \"id\": " + id + "}", reply);
                reply = c.request("{\"execute\": \"nope\", \"id\": " + id + "}");
                assertEquals("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nope has not been found\"},"
                        + " \"id\": " + id + "}", reply);
            }
        }
    }

    @Test
    void queryVersionAndQueryCommands() throws IOException {
        try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
            assertEquals("{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 1, \"major\": 0}, \"package\": \"vhost-user-blk 0.1.0-test\"}}",
                    c.request("{\"execute\": \"query-version\"}"));
            assertEquals("{\"return\": [{\"name\": \"block_resize\"}, {\"name\": \"block_set_io_throttle\"},"
                    + " {\"name\": \"qmp_capabilities\"}, {\"name\": \"query-block\"}, {\"name\": \"query-commands\"},"
                    + " {\"name\": \"query-stats\"}, {\"name\": \"query-status\"}, {\"name\": \"query-version\"}, {\"name\": \"quit\"}]}",
                    c.request("{\"execute\": \"query-commands\"}"));
        }
    }

    @Test
    void badMessagesGetErrorsAndTheClientGoesOn() throws IOException {
        String[][] cases = {
            {"[1, 2]", "QMP input must be a JSON object"},
            {"\"query-status\"", "QMP input must be a JSON object"},
            {"{}", "QMP input lacks member 'execute'"},
            {"{\"execute\": 5}", "QMP input member 'execute' must be a string"},
            {"{\"execute\": \"query-status\", \"arguments\": [1]}", "QMP input member 'arguments' must be an object"},
            {"{\"execute\": \"query-status\", \"extra\": 1}", "QMP input member 'extra' is unexpected"},
            {"{\"execute\": \"query-status\", \"arguments\": {\"verbose\": true}}", "Parameter 'verbose' is unexpected"},
            {"{\"execute\": \"block_resize\"}", "Parameter 'size' is missing"},
            {"{\"execute\": \"block_resize\", \"arguments\": {\"size\": \"1G\"}}",
                "Invalid parameter type for 'size', expected: integer"},
            {"{\"execute\": \"block_resize\", \"arguments\": {\"size\": 1.5e9}}",
                "Invalid parameter type for 'size', expected: integer"},
            {"{\"execute\": \"quit\", \"arguments\": {\"now\": true}}", "Parameter 'now' is unexpected"},
        };
        try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
            for (String[] k : cases) {
                assertEquals("{\"error\": {\"class\": \"GenericError\", \"desc\": \"" + k[1] + "\"}}", c.request(k[0]), k[0]);
            }
            assertEquals("{\"return\": {\"running\": false, \"status\": \"prelaunch\"}}", c.request("{\"execute\": \"query-status\"}"));
        }
        assertEquals(1, quitRequested.getCount(), "a quit with bad arguments does not quit");
    }

    @Test
    void messagesNeedNoNewlineAndMayShareALine() throws IOException {
        try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
            c.send("{\"execute\": \"query-status\", \"id\": 1}  {\"execute\":\"query-status\",\"id\":2}");
            assertTrue(c.line().endsWith("\"id\": 1}"));
            assertTrue(c.line().endsWith("\"id\": 2}"));
            c.send("\r\n\t{\"execute\"\n:\n\"query-status\", \"id\": 3}");
            assertTrue(c.line().endsWith("\"id\": 3}"));
        }
    }

    /** Each kind of broken input costs its own connection only: an error reply, then the end. */
    @ParameterizedTest
    @ValueSource(strings = {"malformed", "oversize", "deep", "utf8", "control", "surrogate"})
    void brokenInputCostsOnlyThatClient(String kind) throws IOException {
        byte[] input = switch (kind) {
            case "malformed" -> "{\"execute\": }".getBytes(StandardCharsets.US_ASCII);
            case "oversize" -> ("{\"execute\": \"" + "x".repeat(Json.MAX_MESSAGE) + "\"}").getBytes(StandardCharsets.US_ASCII);
            case "deep" -> ("[".repeat(Json.MAX_DEPTH + 1) + "]".repeat(Json.MAX_DEPTH + 1)).getBytes(StandardCharsets.US_ASCII);
            case "utf8" -> new byte[] {'{', '"', 'e', (byte) 0xc3, (byte) 0x28, '"', ':', '1', '}'};
            case "control" -> "{\"execute\": \"a\u0001b\"}".getBytes(StandardCharsets.US_ASCII);
            case "surrogate" -> "{\"execute\": \"\\udc00\"}".getBytes(StandardCharsets.US_ASCII);
            default -> throw new AssertionError(kind);
        };
        try (QmpTestClient good = QmpTestClient.negotiated(socket); QmpTestClient bad = QmpTestClient.negotiated(socket)) {
            bad.send(input);
            String reply = bad.line();
            assertTrue(reply.startsWith("{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, "), reply);
            assertNull(bad.lineOrNull(), "the connection ends after a broken message");
            assertEquals("{\"return\": {\"running\": false, \"status\": \"prelaunch\"}}",
                    good.request("{\"execute\": \"query-status\"}"));
        }
        try (QmpTestClient again = QmpTestClient.negotiated(socket)) {
            assertEquals("{\"return\": {}}", again.request("{\"execute\": \"block_set_io_throttle\", \"arguments\":"
                    + " {\"iops\": 0, \"iops_rd\": 0, \"iops_wr\": 0, \"bps\": 0, \"bps_rd\": 0, \"bps_wr\": 0}}"));
        }
    }

    @Test
    void oversizeErrorNamesTheBound() throws IOException {
        try (QmpTestClient bad = QmpTestClient.negotiated(socket)) {
            bad.send("[" + "1,".repeat(Json.MAX_MESSAGE) + "1]");
            assertEquals("{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, message longer than 65536 bytes\"}}",
                    bad.line());
        }
    }

    @Test
    void theClientOverTheLimitIsToldWhyAndClosed() throws IOException {
        List<QmpTestClient> clients = new ArrayList<>();
        try {
            for (int i = 0; i < ControlServer.MAX_CLIENTS; i++) {
                clients.add(QmpTestClient.connect(socket));
            }
            try (QmpTestClient extra = new QmpTestClient(socket)) {
                assertEquals("{\"error\": {\"class\": \"GenericError\", \"desc\": \"too many control clients (16 connected);"
                        + " try again later\"}}", extra.line());
                assertNull(extra.lineOrNull());
            }
            assertEquals("{\"return\": {}}", clients.getFirst().request("{\"execute\": \"qmp_capabilities\"}"));
            clients.removeLast().close();
            // the slot comes free once the server sees the close: retry until a greeting comes
            Awaitility.await().atMost(30, TimeUnit.SECONDS).ignoreExceptions().until(() -> {
                clients.add(QmpTestClient.connect(socket));
                return true;
            });
        } finally {
            for (QmpTestClient c : clients) {
                c.close();
            }
        }
    }

    @Test
    void socketHasMode0600() throws IOException {
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket, LinkOption.NOFOLLOW_LINKS)));
        try (var files = Files.list(dir)) {
            assertEquals(List.of("disk.raw", "qmp.sock"), files.map(p -> p.getFileName().toString()).sorted().toList(),
                    "the private directory used for binding is gone");
        }
    }

    @Test
    void aPathThatIsNoSocketIsNotReplaced() throws IOException {
        Path file = Files.writeString(dir.resolve("precious"), "data");
        FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class,
                () -> ControlServer.start(file, Map.of(), "x", () -> {}));
        assertEquals(file + ": exists and is not a socket; not replacing it", e.getMessage());
        assertEquals("data", Files.readString(file));
    }

    @Test
    void aLiveSocketIsNotReplacedButAStaleOneIs() throws IOException {
        Path other = dir.resolve("other.sock");
        try (ServerSocketChannel live = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            live.bind(UnixDomainSocketAddress.of(other));
            FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class,
                    () -> ControlServer.start(other, Map.of(), "x", () -> {}));
            assertEquals(other + ": another process is listening on this socket", e.getMessage());
        }
        assertTrue(Files.exists(other, LinkOption.NOFOLLOW_LINKS), "a closed listener leaves its socket file");
        try (ControlServer second = ControlServer.start(other, Map.of(), "x", () -> {});
             QmpTestClient c = QmpTestClient.connect(other)) {
            assertEquals("{\"return\": {}}", c.request("{\"execute\": \"qmp_capabilities\"}"));
        }
        assertFalse(Files.exists(other, LinkOption.NOFOLLOW_LINKS), "closing removes the socket file");
    }

    @Test
    void eventsReachOnlyNegotiatedClients() throws IOException {
        try (QmpTestClient negotiated = QmpTestClient.negotiated(socket); QmpTestClient fresh = QmpTestClient.connect(socket)) {
            server.emit("BLOCK_TEST", Map.of("device", "disk0"));
            Map<String, Object> event = negotiated.message();
            assertEquals("BLOCK_TEST", event.get("event"));
            assertEquals(Map.of("device", "disk0"), event.get("data"));
            @SuppressWarnings("unchecked")
            Map<String, Object> ts = (Map<String, Object>) event.get("timestamp");
            assertEquals(List.of("seconds", "microseconds"), List.copyOf(ts.keySet()));
            long micros = (Long) ts.get("microseconds");
            assertTrue(micros >= 0 && micros < 1_000_000, "microseconds " + micros);
            assertTrue((Long) ts.get("seconds") > 1_600_000_000L, "seconds since the epoch: " + ts);
            assertEquals(List.of("event", "data", "timestamp"), List.copyOf(event.keySet()));
            // the fresh client's next line is its own reply: the event never reached it
            assertEquals("{\"return\": {}}", fresh.request("{\"execute\": \"qmp_capabilities\"}"));
            server.emit("NO_DATA", null);
            assertTrue(fresh.line().startsWith("{\"event\": \"NO_DATA\", \"timestamp\": {\"seconds\": "));
        }
    }

    @Test
    void quitRepliesThenSendsShutdownThenAsksToStop() throws Exception {
        try (QmpTestClient c = QmpTestClient.negotiated(socket); QmpTestClient watcher = QmpTestClient.negotiated(socket)) {
            assertEquals("{\"return\": {}, \"id\": \"q\"}", c.request("{\"execute\": \"quit\", \"id\": \"q\"}"));
            Map<String, Object> shutdown = c.message();
            assertEquals("SHUTDOWN", shutdown.get("event"));
            assertEquals(Map.of("guest", false, "reason", "host-qmp-quit"), shutdown.get("data"));
            assertEquals("SHUTDOWN", watcher.message().get("event"));
            assertTrue(quitRequested.await(60, TimeUnit.SECONDS));
        }
    }

    @Test
    void closingTheServerEndsEveryClientAndRemovesTheSocket() throws IOException {
        try (QmpTestClient a = QmpTestClient.negotiated(socket); QmpTestClient b = QmpTestClient.connect(socket)) {
            server.close();
            assertNull(a.lineOrNull());
            assertNull(b.lineOrNull());
            assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS));
        }
    }

    /** A client that reads nothing while events pile up is dropped; emit never waits for it. */
    @Test
    void aClientThatStopsReadingIsDroppedAndOthersGoOn() throws IOException {
        try (QmpTestClient stalled = QmpTestClient.negotiated(socket); QmpTestClient reader = QmpTestClient.negotiated(socket)) {
            Map<String, Object> data = Map.of("padding", "p".repeat(1000));
            int events = 3 * Outbox.MAX_PENDING / 1000 + 10_000; // well past the backlog bound plus socket buffers
            for (int i = 0; i < events; i++) {
                server.emit("FLOOD", data);
                if (i % 100 == 0) {
                    // the reading client keeps up, so only the stalled one falls behind
                    for (int j = 0; j < (i == 0 ? 1 : 100); j++) {
                        assertEquals("FLOOD", reader.message().get("event"));
                    }
                }
            }
            int received = stalled.linesUntilClosed();
            assertTrue(received > 0 && received < events, "the stalled client got " + received + " of " + events + " before it was dropped");
            assertEquals("{\"return\": {\"running\": false, \"status\": \"prelaunch\"}}", readPastEvents(reader));
        }
    }

    private static String readPastEvents(QmpTestClient c) throws IOException {
        c.send("{\"execute\": \"query-status\"}");
        String line;
        do {
            line = c.line();
        } while (line.startsWith("{\"event\""));
        return line;
    }
}
