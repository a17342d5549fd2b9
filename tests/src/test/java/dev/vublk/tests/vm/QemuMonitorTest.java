package dev.vublk.tests.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The QMP client against a scripted monitor: replies, errors, events and a monitor that goes away. */
class QemuMonitorTest {
    private static final String GREETING = "{\"QMP\": {\"version\": {}, \"capabilities\": [\"oob\"]}}";
    private static final String EMPTY_RETURN = "{\"return\": {}}";

    @TempDir
    Path dir;

    /**
     * A monitor that sends the greeting, then for each request line read sends the next group
     * of lines of {@code replies}; after the last group it closes. Returns the requests it read.
     */
    private CompletableFuture<List<String>> monitor(Path socket, List<List<String>> replies) throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        CompletableFuture<List<String>> requests = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try (server; SocketChannel c = server.accept()) {
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(c), StandardCharsets.UTF_8));
                send(c, GREETING);
                ArrayList<String> seen = new ArrayList<>();
                for (List<String> group : replies) {
                    seen.add(in.readLine());
                    for (String line : group) {
                        send(c, line);
                    }
                }
                requests.complete(seen);
            } catch (IOException e) {
                requests.completeExceptionally(e);
            }
        });
        return requests;
    }

    private static void send(SocketChannel c, String line) throws IOException {
        ByteBuffer b = ByteBuffer.wrap((line + "\r\n").getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) {
            c.write(b);
        }
    }

    @Test
    void returnsTheReturnValueAndKeepsEventsApart() throws Exception {
        Path socket = dir.resolve("qmp.sock");
        CompletableFuture<List<String>> seen = monitor(socket, List.of(List.of(EMPTY_RETURN),
                List.of("{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}",
                        "{\"return\": {\"status\": \"postmigrate\", \"running\": false}}")));
        try (QemuMonitor qmp = QemuMonitor.connect(socket, Duration.ofSeconds(10))) {
            assertEquals("postmigrate", qmp.runState());
            assertEquals(List.of("STOP"), qmp.eventNames());
        }
        assertEquals(List.of("{\"execute\": \"qmp_capabilities\"}", "{\"execute\": \"query-status\"}"),
                seen.get(10, TimeUnit.SECONDS));
    }

    @Test
    void anErrorReplyFailsNamingTheCommandAndQemusError() throws Exception {
        Path socket = dir.resolve("qmp.sock");
        monitor(socket, List.of(List.of(EMPTY_RETURN), List.of(
                "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'max-bandwith' is unexpected\"}}")));
        try (QemuMonitor qmp = QemuMonitor.connect(socket, Duration.ofSeconds(10))) {
            VmException e = assertThrows(VmException.class,
                    () -> qmp.execute("migrate-set-parameters", Map.of("max-bandwith", 1L)));
            assertTrue(e.getMessage().contains("{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"max-bandwith\": 1}}"
                    + " failed: GenericError: Parameter 'max-bandwith' is unexpected"), e.getMessage());
        }
    }

    @Test
    void aMonitorThatClosesFailsEveryLaterCall() throws Exception {
        Path socket = dir.resolve("qmp.sock");
        monitor(socket, List.of(List.of(EMPTY_RETURN), List.of()));
        try (QemuMonitor qmp = QemuMonitor.connect(socket, Duration.ofSeconds(10))) {
            VmException first = assertThrows(VmException.class, () -> qmp.execute("query-migrate"));
            assertTrue(first.getMessage().contains("closed before replying to {\"execute\": \"query-migrate\"}"),
                    first.getMessage());
            assertThrows(VmException.class, () -> qmp.execute("query-status"));
        }
    }

    @Test
    void noMonitorWithinTheBoundFailsNamingTheSocket() {
        Path socket = dir.resolve("absent.sock");
        VmException e = assertThrows(VmException.class, () -> QemuMonitor.connect(socket, Duration.ofMillis(300)));
        assertTrue(e.getMessage().startsWith("no QMP monitor at " + socket), e.getMessage());
    }
}
