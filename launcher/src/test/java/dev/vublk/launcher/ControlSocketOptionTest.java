package dev.vublk.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code --control-socket} on a running backend process: the disk is queryable and {@code quit} ends the process cleanly. */
@Timeout(180) // a guard against a hang only
class ControlSocketOptionTest {
    @TempDir
    Path dir;

    @Test
    void quitThroughTheControlSocketStopsTheBackendWithExitZero() throws Exception {
        Path img = Files.write(dir.resolve("disk.raw"), new byte[1 << 20]);
        Path sock = dir.resolve("vub.sock");
        Path control = dir.resolve("ctl.sock");
        String javaBin = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(List.of(javaBin, "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), Main.class.getName(), "--socket-path", sock.toString(),
                "--blk-file", img.toString(), "--format", "raw", "--control-socket", control.toString()))
                .redirectErrorStream(true).redirectOutput(dir.resolve("backend.log").toFile()).start();
        try {
            Awaitility.await().atMost(60, TimeUnit.SECONDS).ignoreExceptions().until(() -> {
                assertTrue(p.isAlive(), "backend ended: " + Files.readString(dir.resolve("backend.log")));
                SocketChannel.open(UnixDomainSocketAddress.of(control)).close();
                return true;
            });
            assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(control)));
            LauncherTest.Result r = QmpSubcommandTest.qmp(control, "query-status");
            assertEquals(0, r.code(), r.err());
            assertEquals("{\"return\": {\"running\": false, \"status\": \"prelaunch\"}}", r.out().strip());
            r = QmpSubcommandTest.qmp(control, "query-block");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().startsWith("{\"return\": [{\"device\": \"disk.raw\", \"locked\": false, \"removable\": false,"
                    + " \"inserted\": {\"file\": \"" + img + "\", \"ro\": false, \"drv\": \"raw\","), r.out());
            r = QmpSubcommandTest.qmp(control, "query-stats");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().startsWith("{\"return\": {\"disk\": \"disk.raw\", \"size\": 1048576, \"total\": {"), r.out());
            r = QmpSubcommandTest.qmp(control, "quit");
            assertEquals(new LauncherTest.Result(0, "{\"return\": {}}" + System.lineSeparator(), ""), r);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "backend did not stop after quit");
            assertEquals(0, p.exitValue(), Files.readString(dir.resolve("backend.log")));
            assertFalse(Files.exists(control), "control socket left behind");
            assertFalse(Files.exists(sock), "vhost-user socket left behind");
        } finally {
            p.destroyForcibly();
        }
    }
}
