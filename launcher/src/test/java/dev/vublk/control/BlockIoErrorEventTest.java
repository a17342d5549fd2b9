package dev.vublk.control;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.uring.Errno;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The disk's I/O errors as QEMU's BLOCK_IO_ERROR events, field by field. */
@Timeout(120) // a guard against a hang only
class BlockIoErrorEventTest {
    @TempDir
    Path dir;
    TestDisk disk;
    ControlServer server;
    Path socket;

    @BeforeEach
    void start() throws IOException {
        socket = dir.resolve("qmp.sock");
        disk = TestDisk.raw(dir, 1 << 20);
        server = ControlServer.start(socket, DiskCommands.of(disk.disk()), "test", () -> {});
        BlockIoErrorEvent.attach(disk.disk(), server);
    }

    @AfterEach
    void stop() throws IOException {
        server.close();
        disk.close();
    }

    @Test
    void aHeldWriteIsStopWithNospaceAndAFailedReadIsReport() throws IOException {
        String name = disk.disk().options().serial();
        try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
            disk.disk().ioErrorListener().ioError(true, -Errno.ENOSPC, true);
            Map<String, Object> held = c.message();
            assertEquals("BLOCK_IO_ERROR", held.get("event"));
            assertEquals(Map.of("device", name, "node-name", name, "operation", "write", "action", "stop", "nospace", true,
                    "reason", "No space left on device"), held.get("data"));
            assertEquals(List.of("device", "node-name", "operation", "action", "nospace", "reason"),
                    List.copyOf(((Map<?, ?>) held.get("data")).keySet()), "QEMU's order");

            disk.disk().ioErrorListener().ioError(false, -Errno.EIO, false);
            assertEquals(Map.of("device", name, "node-name", name, "operation", "read", "action", "report",
                    "reason", "Input/output error"), c.message().get("data"), "no nospace member unless it is true");
        }
    }
}
