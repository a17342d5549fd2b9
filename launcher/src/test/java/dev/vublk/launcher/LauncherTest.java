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

    /**
     * Runs the real command in a JVM of its own, logging to {@code log} in the test directory, and
     * returns once it listens on {@code sock} (the file appears at bind, before its mode is set
     * and listen is called: it counts once it accepts a connection).
     */
    private Process startBackend(Path sock, String log, String... args) throws Exception {
        Process p = launch(sock, log, args);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline && p.isAlive()) {
            try (var probe = java.nio.channels.SocketChannel.open(java.net.UnixDomainSocketAddress.of(sock))) {
                return p;
            } catch (IOException notYet) {
                Thread.sleep(50);
            }
        }
        p.destroyForcibly();
        throw new AssertionError("the backend never listened on " + sock + ": " + Files.readString(dir.resolve(log)));
    }

    private Process launch(Path sock, String log, String... args) throws IOException {
        List<String> command = new java.util.ArrayList<>(List.of("--socket-path", sock.toString()));
        command.addAll(List.of(args));
        return LauncherProcess.start(dir.resolve(log), command.toArray(String[]::new));
    }

    /** Runs the real command in a JVM of its own that must exit within 60 s (not serve); its exit code and log. */
    private Result runBackend(Path sock, String log, String... args) throws Exception {
        Process p = launch(sock, log, args);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            throw new AssertionError("the backend did not exit but serves: " + Files.readString(dir.resolve(log)));
        }
        return new Result(p.exitValue(), "", Files.readString(dir.resolve(log)));
    }

    /** SIGTERM, then requires exit 0 within 20 s; returns the log. */
    private String stop(Process p, String log) throws Exception {
        p.destroy();
        assertTrue(p.waitFor(20, TimeUnit.SECONDS), "backend did not stop on SIGTERM");
        String text = Files.readString(dir.resolve(log));
        assertEquals(0, p.exitValue(), text);
        return text;
    }

    /** A qcow2 naming {@code backing}, made without qemu-img opening it. */
    private Path qcowOver(Path image, Path backing) throws Exception {
        QemuImgRun r = qemuImg("create", "-q", "-f", "qcow2", "-u", "-b", backing.toString(), "-F", "raw", image.toString(), "1M");
        assertEquals(0, r.code(), "qemu-img: " + r.output());
        return image;
    }

    private record QemuImgRun(int code, String output) {}

    /** Runs qemu-img to its end (at most 60 s); stdout and stderr together. */
    private static QemuImgRun qemuImg(String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of("qemu-img"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "qemu-img hung: " + out);
        return new QemuImgRun(p.exitValue(), out);
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
        Process p = startBackend(sock, "backend.log", "--blk-file", img.toString());
        try {
            assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(sock)));
            String log = stop(p, "backend.log");
            assertTrue(!Files.exists(sock), "socket file left behind");
            // One startup line names the image chain, the endpoint and the settings; a warning
            // says that the RAW format was guessed.
            assertTrue(log.contains(" INFO  [main] VhostUserBlkCommand: serving image " + img
                    + ": RAW, 1048576 bytes, read-write, format detected (writes that would change it are refused) on "
                    + sock + ": 8 queue(s) of up to 1024 entries, logical block 512 bytes, write cache on,"
                    + " direct I/O off, serial \"disk.raw\", image locking on\n"), log);
            assertTrue(log.contains("Pass --format raw if the image is RAW"), log);
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void aSecondBackendOnAnImageInUseExitsOneNamingItUnlessLockingIsOff() throws Exception {
        Path img = dir.resolve("disk.qcow2");
        QemuImgRun created = qemuImg("create", "-q", "-f", "qcow2", img.toString(), "1M");
        assertEquals(0, created.code(), created.output());
        Process first = startBackend(dir.resolve("first.sock"), "first.log", "--blk-file", img.toString());
        try {
            Result r = runBackend(dir.resolve("second.sock"), "second.log", "--blk-file", img.toString());
            assertEquals(1, r.code(), r.err());
            assertEquals("vhost-user-blk: cannot open image: " + img + ": Failed to get \"write\" lock: another process"
                    + " is using the image and does not share \"write\"", r.err().strip());
            // QEMU's tools see the backend's locks too.
            QemuImgRun info = qemuImg("info", img.toString());
            assertEquals(1, info.code(), info.output());
            assertTrue(info.output().contains("Failed to get shared \"write\" lock"), info.output());
            // Opting out, in either spelling, lets a second backend in.
            for (String optOut : List.of("--no-lock", "--locking=off")) {
                Process second = startBackend(dir.resolve("third.sock"), "third.log", "--blk-file", img.toString(), optOut);
                stop(second, "third.log");
            }
            stop(first, "first.log");
        } finally {
            first.destroyForcibly();
        }
    }

    @Test
    void theTwoSpellingsOfLockingAreExclusive() {
        // No such image: were the options accepted, the command would stop there, never serve.
        Path img = dir.resolve("none.raw");
        Result r = run("--socket-path", dir.resolve("s").toString(), "--blk-file", img.toString(),
                "--no-lock", "--locking", "on");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("mutually exclusive"), r.err());
        r = run("--socket-path", dir.resolve("s").toString(), "--blk-file", img.toString(), "--locking", "maybe");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--locking"), r.err());
    }
}
