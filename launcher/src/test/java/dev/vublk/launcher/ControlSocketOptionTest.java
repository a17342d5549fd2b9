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

    /** Starts the backend on a 1 MiB RAW image with a control socket at {@code control}; waits until it answers there. */
    private Process start(Path control, String... more) throws Exception {
        Path img = dir.resolve("disk.raw");
        if (!Files.exists(img)) {
            Files.write(img, new byte[1 << 20]);
        }
        List<String> cmd = new java.util.ArrayList<>(List.of("--socket-path", dir.resolve("vub.sock").toString(),
                "--blk-file", img.toString(), "--format", "raw", "--control-socket", control.toString()));
        cmd.addAll(List.of(more));
        Process p = LauncherProcess.start(dir.resolve("backend.log"), cmd.toArray(String[]::new));
        Awaitility.await().atMost(60, TimeUnit.SECONDS).ignoreExceptions().until(() -> {
            assertTrue(p.isAlive(), "backend ended: " + Files.readString(dir.resolve("backend.log")));
            SocketChannel.open(UnixDomainSocketAddress.of(control)).close();
            return true;
        });
        return p;
    }

    /**
     * SIGTERM ends the backend with 0 as before, and a control client hears {@code SHUTDOWN} with
     * QEMU's reason for a signal first; the start line names the limits and the control socket.
     */
    @Test
    void sigtermTellsControlClientsThenExitsZero() throws Exception {
        Path control = dir.resolve("ctl.sock");
        Process p = start(control, "--iops", "500", "--iops-max", "1000", "--iops-max-length", "2", "--bps-wr", "1048576");
        try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(control));
             var in = new java.io.BufferedReader(new java.io.InputStreamReader(java.nio.channels.Channels.newInputStream(c),
                     java.nio.charset.StandardCharsets.UTF_8))) {
            assertTrue(in.readLine().startsWith("{\"QMP\": "));
            c.write(java.nio.ByteBuffer.wrap("{\"execute\": \"qmp_capabilities\"}\n".getBytes()));
            assertEquals("{\"return\": {}}", in.readLine());
            p.destroy(); // SIGTERM
            String event = in.readLine();
            assertTrue(event != null && event.startsWith("{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false,"
                    + " \"reason\": \"host-signal\"}, \"timestamp\": {\"seconds\": "), event);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "backend did not stop on SIGTERM");
            String log = Files.readString(dir.resolve("backend.log"));
            assertEquals(0, p.exitValue(), log);
            assertTrue(log.contains("direct I/O off, serial \"disk.raw\", image locking on,"
                    + " I/O limits iops=500 iops_max=1000/2s bps_wr=1048576, control socket " + control + "\n"), log);
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void quitThroughTheControlSocketStopsTheBackendWithExitZero() throws Exception {
        Path img = dir.resolve("disk.raw");
        Path sock = dir.resolve("vub.sock");
        Path control = dir.resolve("ctl.sock");
        Process p = start(control);
        try {
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
