package dev.vublk.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LauncherTest {
    @TempDir
    Path dir;

    record Result(int code, String out, String err) {}

    /** Runs the command in this JVM; the other launcher tests use it too. */
    static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void printCapabilitiesIsTheSpecsJsonAndExitsZero() {
        Result r = run("--print-capabilities");
        assertEquals(0, r.code());
        // VHostUserBackendCapabilities of QEMU's docs/interop/vhost-user.json: a block back-end lists
        // VHostUserBackendBlockFeature values, which are exactly "read-only" and "blk-file".
        assertEquals("{\"type\": \"block\", \"features\": [\"read-only\", \"blk-file\"]}", r.out().strip());
    }

    @Test
    void unknownOptionIsOneLineAndExitsTwo() {
        Result r = run("--no-such-option");
        assertEquals(2, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("--no-such-option"), r.err());
    }

    @Test
    void socketPathAndFdAreExclusive() {
        Result r = run("--socket-path", dir.resolve("s").toString(), "--fd", "3", "--blk-file", "x");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("mutually exclusive"), r.err());
    }

    @Test
    void badBlockSizeIsAnOptionError() throws IOException {
        Path img = Files.createFile(dir.resolve("a.raw"));
        Result r = run("--socket-path", dir.resolve("s").toString(), "--blk-file", img.toString(),
                "--logical-block-size", "1024");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("512 or 4096"), r.err());
    }

    @Test
    void missingImageExitsOneWithAClearMessage() {
        Result r = run("--socket-path", dir.resolve("s").toString(), "--blk-file", dir.resolve("nope.raw").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("nope.raw") && r.err().contains("does not exist"), r.err());
    }

    @Test
    void defaultSerialIsTheImagesLastNameWithoutOptions() {
        assertEquals("disk.qcow2", VhostUserBlkCommand.defaultSerial("/var/lib/vms/disk.qcow2"));
        assertEquals("vm1", VhostUserBlkCommand.defaultSerial("rbd:pool/vm1:conf=/etc/ceph/c.conf:id=admin"));
        assertEquals("vm1@snap", VhostUserBlkCommand.defaultSerial("rbd:pool/ns/vm1@snap"));
        assertEquals("export", VhostUserBlkCommand.defaultSerial("nbd://host:10809/export"));
        assertEquals("e1", VhostUserBlkCommand.defaultSerial("nbd+unix:///e1?socket=/run/nbd.sock"));
        assertEquals("vublk", VhostUserBlkCommand.defaultSerial("nbd+unix:///?socket=/run/nbd.sock"));
        assertEquals("a-very-long-image-na", VhostUserBlkCommand.defaultSerial("rbd:p/a-very-long-image-name"));
    }

    @Test
    void aFormatWithMetadataOverNetworkStorageExitsOne() {
        Result r = run("--socket-path", dir.resolve("s").toString(), "--blk-file", "rbd:pool/vm1", "--format", "qcow2");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("rbd:pool/vm1") && r.err().contains("QCOW2 over network storage is not supported"), r.err());
    }

    @Test
    void reconnectDelayIsCheckedAsAnOption() throws IOException {
        Path img = Files.createFile(dir.resolve("a.raw"));
        Result r = run("--socket-path", dir.resolve("s").toString(), "--blk-file", img.toString(), "--reconnect-delay", "-1");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--reconnect-delay"), r.err());
    }

    /** A qcow2 naming {@code backing}, made without qemu-img opening it. */
    private Path qcowOver(Path image, Path backing) throws Exception {
        Process p = new ProcessBuilder("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", backing.toString(), "-F", "raw",
                image.toString(), "1M").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, "qemu-img: " + out);
        return image;
    }

    @Test
    void noBackingFilesRefusesAnImageNamingOneAndExitsOne() throws Exception {
        Path base = Files.write(dir.resolve("base.raw"), new byte[1 << 20]);
        Path top = qcowOver(dir.resolve("top.qcow2"), base);
        Result r = run("--socket-path", dir.resolve("s").toString(), "--blk-file", top.toString(), "--no-backing-files");
        assertEquals(1, r.code());
        assertEquals("vhost-user-blk: cannot open image: " + top + ": names backing file " + base
                + ", refused: images may not name other files (untrusted image)", r.err().strip());
    }

    @Test
    void backingFileOutsideTheAllowedDirectoriesExitsOne() throws Exception {
        Path allowed = Files.createDirectory(dir.resolve("allowed"));
        Path base = Files.write(dir.resolve("base.raw"), new byte[1 << 20]);
        Path top = qcowOver(allowed.resolve("top.qcow2"), base);
        Result r = run("--socket-path", dir.resolve("s").toString(), "--blk-file", top.toString(),
                "--allow-backing-dir", allowed.toString(), "--allow-backing-dir", dir.resolve("allowed").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("backing file " + base + " refused: it lies outside the allowed directories ["
                + allowed.toRealPath()), r.err());
    }

    @Test
    void backingOptionsAreCheckedAsOptions() throws IOException {
        Path img = Files.createFile(dir.resolve("a.raw"));
        Result r = run("--socket-path", dir.resolve("s").toString(), "--blk-file", img.toString(),
                "--allow-backing-dir", dir.resolve("none").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--allow-backing-dir") && r.err().contains("no such directory"), r.err());
        r = run("--socket-path", dir.resolve("s").toString(), "--blk-file", img.toString(),
                "--allow-backing-dir", dir.toString(), "--no-backing-files");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("exclude each other"), r.err());
    }

    @Test
    void serialLongerThanTwentyBytesIsRefused() throws IOException {
        Path img = Files.createFile(dir.resolve("a.raw"));
        Result r = run("--socket-path", dir.resolve("s").toString(), "--blk-file", img.toString(),
                "--serial", "012345678901234567890");
        assertEquals(2, r.code());
    }

    /** An exception without a message used to print "vhost-user-blk: null". */
    @Test
    void failuresAreDescribedByClassAndMessage() {
        assertEquals("java.lang.NullPointerException", Main.describe(new NullPointerException()));
        assertEquals("java.io.IOException: disk gone; caused by java.lang.IllegalStateException",
                Main.describe(new IOException("disk gone", new IllegalStateException())));
    }

    @Test
    void sigtermStopsTheServerAndExitsZero() throws Exception {
        Path img = dir.resolve("disk.raw");
        try (var f = java.nio.channels.FileChannel.open(img, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            f.truncate(0);
            f.write(java.nio.ByteBuffer.allocate(1), (1 << 20) - 1);
        }
        Path sock = dir.resolve("vub.sock");
        String javaBin = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(List.of(javaBin, "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), Main.class.getName(),
                "--socket-path", sock.toString(), "--blk-file", img.toString()))
                .redirectErrorStream(true).redirectOutput(dir.resolve("backend.log").toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            // The file appears at bind, before its mode is set and listen is called: wait until
            // the socket accepts a connection, then check the mode it listens with.
            boolean listening = false;
            while (!listening && System.nanoTime() < deadline && p.isAlive()) {
                try (var probe = java.nio.channels.SocketChannel.open(java.net.UnixDomainSocketAddress.of(sock))) {
                    listening = true;
                } catch (IOException notYet) {
                    Thread.sleep(50);
                }
            }
            assertTrue(listening, "the backend never listened on " + sock);
            assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(sock)));
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(20, TimeUnit.SECONDS), "backend did not stop on SIGTERM");
            String log = Files.readString(dir.resolve("backend.log"));
            assertEquals(0, p.exitValue(), log);
            assertTrue(!Files.exists(sock), "socket file left behind");
            // One startup line names the image chain, the endpoint and the settings; a warning
            // says that the RAW format was guessed.
            assertTrue(log.contains(" INFO  [main] VhostUserBlkCommand: serving image " + img
                    + ": RAW, 1048576 bytes, read-write, format detected (writes that would change it are refused) on "
                    + sock + ": 8 queue(s) of up to 1024 entries, logical block 512 bytes, write cache on,"
                    + " direct I/O off, serial \"disk.raw\"\n"), log);
            assertTrue(log.contains("Pass --format raw if the image is RAW"), log);
        } finally {
            p.destroyForcibly();
        }
    }
}
