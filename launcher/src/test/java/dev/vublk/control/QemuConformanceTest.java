package dev.vublk.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The same messages to qemu-storage-daemon's QMP monitor and to our control socket get the same
 * replies (compared as JSON values: QEMU orders members by hash), so a client written against
 * QEMU finds what it expects. It needs qemu-storage-daemon (Debian's qemu-system-common, which
 * scripts/test installs); without it the test fails saying so.
 */
@Timeout(120) // a guard against a hang only
class QemuConformanceTest {
    /** Messages whose replies must be equal, in order, from before negotiation on. */
    private static final List<String> SAME_REPLY = List.of(
            "{\"execute\": \"query-version\", \"id\": 1}",
            "{\"execute\": \"no-such-command\"}",
            "[1]",
            "\"x\"",
            "{}",
            "{\"arguments\": {}, \"id\": 3}",
            "{\"execute\": 5}",
            "{\"execute\": \"qmp_capabilities\", \"extra\": 1}",
            "{\"execute\": \"qmp_capabilities\", \"id\": 1, \"exec-oob\": \"x\"}",
            "{\"execute\": \"qmp_capabilities\", \"id\": null}",
            "{\"execute\": \"qmp_capabilities\"}",
            "{\"execute\": \"query-version\", \"arguments\": [1]}",
            "{\"execute\": \"query-commands\", \"arguments\": null}",
            "{\"execute\": \"query-version\", \"arguments\": {\"x\": 1}}",
            "{\"execute\": \"quit\", \"arguments\": {\"x\": 1}}",
            "{\"execute\": \"nope\", \"id\": {\"a\": [1, \"x\", null, 2.5]}}",
            "{\"execute\": \"block_resize\", \"arguments\": {\"node-name\": \"x\"}}",
            "{\"execute\": \"block_resize\", \"arguments\": {\"size\": \"1G\", \"zzz\": 1}}",
            "{\"execute\": \"block_resize\", \"arguments\": {\"size\": 1.5e9}}",
            "{\"execute\": \"block_resize\", \"arguments\": {\"size\": null}}",
            "{\"execute\": \"block_resize\", \"arguments\": {\"size\": 1, \"zzz\": 1}}",
            "{\"execute\": \"block_resize\", \"arguments\": {\"size\": 1, \"device\": 5}}");

    @TempDir
    Path dir;

    Process qsd;
    Path qsdSocket;
    TestDisk disk;
    ControlServer ours;
    Path ourSocket;

    @BeforeEach
    void start() throws IOException {
        qsdSocket = dir.resolve("qsd.sock");
        try {
            qsd = new ProcessBuilder("qemu-storage-daemon", "--chardev", "socket,id=m,path=" + qsdSocket + ",server=on,wait=off",
                    "--monitor", "chardev=m").redirectErrorStream(true).redirectOutput(dir.resolve("qsd.log").toFile()).start();
        } catch (IOException e) {
            throw new AssertionError("this test compares with QEMU and needs qemu-storage-daemon: " + e.getMessage(), e);
        }
        disk = TestDisk.raw(dir, 1 << 20);
        ourSocket = dir.resolve("ours.sock");
        ours = ControlServer.start(ourSocket, DiskCommands.of(disk.disk()), "vhost-user-blk test", () -> {});
    }

    @AfterEach
    void stop() throws Exception {
        ours.close();
        disk.close();
        qsd.destroy();
        qsd.waitFor(30, TimeUnit.SECONDS);
    }

    private QmpTestClient connectToQemu() {
        return Awaitility.await().atMost(60, TimeUnit.SECONDS).ignoreExceptions().until(() -> QmpTestClient.connect(qsdSocket),
                c -> true);
    }

    @Test
    void sameMessagesGetTheSameReplies() throws IOException {
        try (QmpTestClient qemu = connectToQemu(); QmpTestClient us = QmpTestClient.connect(ourSocket)) {
            for (String m : SAME_REPLY) {
                Object expected = Json.parse(qemu.request(m));
                assertEquals(expected, Json.parse(us.request(m)), m);
            }
        }
    }

    @Test
    void greetingsHaveTheSameShape() throws IOException {
        try (QmpTestClient qemu = new QmpTestClient(qsdSocketWhenUp()); QmpTestClient us = new QmpTestClient(ourSocket)) {
            assertEquals(shape(Json.parse(qemu.line())), shape(Json.parse(us.line())));
        }
    }

    @Test
    void brokenJsonIsAGenericErrorOnBoth() throws IOException {
        for (String broken : List.of("{\"execute\": }", "[".repeat(2000), "{\"execute\": 1, \"execute\": 2}")) {
            try (QmpTestClient qemu = connectToQemu(); QmpTestClient us = QmpTestClient.connect(ourSocket)) {
                Map<?, ?> q = (Map<?, ?>) Json.parse(qemu.request(broken));
                Map<?, ?> o = (Map<?, ?>) Json.parse(us.request(broken));
                assertEquals(List.of("error"), List.copyOf(q.keySet()), broken);
                assertEquals(List.of("error"), List.copyOf(o.keySet()), broken);
                assertEquals("GenericError", ((Map<?, ?>) q.get("error")).get("class"));
                assertEquals("GenericError", ((Map<?, ?>) o.get("error")).get("class"));
                assertTrue(((String) ((Map<?, ?>) o.get("error")).get("desc")).startsWith("JSON parse error, "), o.toString());
            }
        }
    }

    private Path qsdSocketWhenUp() throws IOException {
        connectToQemu().close();
        return qsdSocket;
    }

    /** The value with every string, number and array replaced by its type, to compare layouts. */
    private static Object shape(Object v) {
        return switch (v) {
            case Map<?, ?> m -> {
                java.util.TreeMap<String, Object> out = new java.util.TreeMap<>();
                m.forEach((k, x) -> out.put((String) k, shape(x)));
                yield out;
            }
            case List<?> l -> "array";
            case String s -> "string";
            case Long n -> "integer";
            default -> String.valueOf(v);
        };
    }
}
