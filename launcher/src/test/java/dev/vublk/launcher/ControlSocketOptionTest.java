package dev.vublk.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
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

    private static String[] qmp(Path socket, String... command) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        String[] args = new String[command.length + 3];
        args[0] = "qmp";
        args[1] = "--control-socket";
        args[2] = socket.toString();
        System.arraycopy(command, 0, args, 3, command.length);
        int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new String[] {String.valueOf(code), out.toString().strip(), err.toString().strip()};
    }

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
            String[] r = qmp(control, "query-status");
            assertEquals(List.of("0", "{\"return\": {\"running\": false, \"status\": \"prelaunch\"}}", ""), List.of(r));
            r = qmp(control, "query-block");
            assertEquals("0", r[0], r[2]);
            assertTrue(r[1].startsWith("{\"return\": [{\"device\": \"disk.raw\", \"locked\": false, \"removable\": false,"
                    + " \"inserted\": {\"file\": \"" + img + "\", \"ro\": false, \"drv\": \"raw\","), r[1]);
            r = qmp(control, "quit");
            assertEquals(List.of("0", "{\"return\": {}}", ""), List.of(r));
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "backend did not stop after quit");
            assertEquals(0, p.exitValue(), Files.readString(dir.resolve("backend.log")));
            assertFalse(Files.exists(control), "control socket left behind");
            assertFalse(Files.exists(sock), "vhost-user socket left behind");
        } finally {
            p.destroyForcibly();
        }
    }
}
