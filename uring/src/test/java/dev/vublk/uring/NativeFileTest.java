package dev.vublk.uring;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Arrays;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

@ExtendWith(NoFdLeaks.class)
class NativeFileTest {
    @TempDir
    Path dir;

    private final Arena arena = Arena.ofConfined();
    private final Random random = new Random(7);

    @AfterEach
    void close() {
        arena.close();
    }

    private byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    private MemorySegment segmentWith(byte[] content) {
        MemorySegment s = arena.allocate(content.length);
        MemorySegment.copy(content, 0, s, ValueLayout.JAVA_BYTE, 0, content.length);
        return s;
    }

    @Test
    void createWritesAFileOthersCanRead() throws IOException {
        Path p = dir.resolve("new.img");
        byte[] data = randomBytes(10_000);
        try (NativeFile f = NativeFile.create(p)) {
            assertTrue(f.writable());
            assertFalse(f.direct());
            assertEquals(p, f.path());
            assertEquals(0, f.size());
            f.write(segmentWith(data), 5000);
            assertEquals(15_000, f.size());
            assertTrue(Fds.isCloexec(f.fd()));
        }
        byte[] onDisk = Files.readAllBytes(p);
        assertArrayEquals(new byte[5000], Arrays.copyOfRange(onDisk, 0, 5000));
        assertArrayEquals(data, Arrays.copyOfRange(onDisk, 5000, 15_000));
        assertEquals(Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE,
                PosixFilePermission.GROUP_READ, PosixFilePermission.OTHERS_READ),
                Files.getPosixFilePermissions(p), "0644 less the umask 022");
    }

    @Test
    void createTruncatesAnExistingFile() throws IOException {
        Path p = dir.resolve("old.img");
        Files.write(p, randomBytes(4096));
        try (NativeFile f = NativeFile.create(p)) {
            assertEquals(0, f.size());
        }
    }

    @Test
    void preadAndPwriteRoundTrip() throws IOException {
        Path p = dir.resolve("rt.img");
        Files.write(p, randomBytes(64 * 1024));
        byte[] data = randomBytes(12_345);
        try (NativeFile f = NativeFile.open(p, true, false)) {
            f.write(segmentWith(data), 777);
            MemorySegment back = arena.allocate(data.length);
            assertEquals(data.length, f.read(back, 777));
            assertArrayEquals(data, back.toArray(ValueLayout.JAVA_BYTE));

            f.writeBytes(60_000, new byte[] {1, 2, 3});
            assertArrayEquals(new byte[] {1, 2, 3}, f.readBytes(60_000, 3));
            assertArrayEquals(new byte[0], f.readBytes(0, 0));
        }
        byte[] onDisk = Files.readAllBytes(p);
        assertArrayEquals(data, Arrays.copyOfRange(onDisk, 777, 777 + data.length));
        assertArrayEquals(new byte[] {1, 2, 3}, Arrays.copyOfRange(onDisk, 60_000, 60_003));
    }

    @Test
    void readStopsAtEndOfFileAndReadFullyNamesTheShortfall() throws IOException {
        Path p = dir.resolve("short.img");
        byte[] content = randomBytes(1000);
        Files.write(p, content);
        try (NativeFile f = NativeFile.open(p, false, false)) {
            MemorySegment buf = arena.allocate(500);
            assertEquals(200, f.read(buf, 800));
            assertArrayEquals(Arrays.copyOfRange(content, 800, 1000), buf.asSlice(0, 200).toArray(ValueLayout.JAVA_BYTE));
            assertEquals(0, f.read(buf, 5000));

            EOFException e = assertThrows(EOFException.class, () -> f.readFully(buf, 800));
            assertEquals("short read of 500 bytes at offset 800 of " + p + ": end of file after 200", e.getMessage());
            assertThrows(EOFException.class, () -> f.readBytes(999, 2));
        }
    }

    @Test
    void sizeAndTruncate() throws IOException {
        Path p = dir.resolve("t.img");
        Files.write(p, randomBytes(8192));
        try (NativeFile f = NativeFile.open(p, true, false)) {
            assertEquals(8192, f.size());
            assertFalse(f.isBlockDevice());
            f.truncate(1L << 30);
            assertEquals(1L << 30, f.size());
            assertTrue(f.allocatedBytes() < 1 << 20, "growing leaves a hole");
            f.truncate(100);
            assertEquals(100, f.size());
            f.fsync();
            f.fdatasync();
        }
        assertEquals(100, Files.size(p));
    }

    @Test
    void punchHoleAndZeroRangeReadAsZero() throws IOException {
        Path p = dir.resolve("holes.img");
        byte[] content = randomBytes(1 << 20);
        Files.write(p, content);
        try (NativeFile f = NativeFile.open(p, true, false)) {
            f.fsync();
            long before = f.allocatedBytes();
            f.punchHole(0, 512 * 1024);
            assertTrue(f.allocatedBytes() <= before - 512 * 1024, "allocated " + f.allocatedBytes() + " of " + before);
            f.zeroRange(600_000, 1000);
            f.fallocate(0, 1 << 20, 4096); // plain allocation past the end grows the file
            assertEquals((1 << 20) + 4096, f.size());
        }
        byte[] expected = Arrays.copyOf(content, (1 << 20) + 4096);
        Arrays.fill(expected, 0, 512 * 1024, (byte) 0);
        Arrays.fill(expected, 600_000, 601_000, (byte) 0);
        assertArrayEquals(expected, Files.readAllBytes(p));
    }

    @Test
    void directIoOnTmpfs() throws IOException {
        Path shm = Files.createTempDirectory(Path.of("/dev/shm"), "vublk-direct");
        Path p = shm.resolve("direct.img");
        try {
            byte[] content = randomBytes(16 * 4096);
            Files.write(p, content);
            try (NativeFile f = NativeFile.open(p, true, true)) {
                assertTrue(f.direct());
                MemorySegment aligned = arena.allocate(8192, 4096);
                f.read(aligned, 4096);
                assertArrayEquals(Arrays.copyOfRange(content, 4096, 12_288), aligned.toArray(ValueLayout.JAVA_BYTE));
                byte[] fresh = randomBytes(4096);
                MemorySegment.copy(fresh, 0, aligned, ValueLayout.JAVA_BYTE, 0, 4096);
                f.write(aligned.asSlice(0, 4096), 0);
                System.arraycopy(fresh, 0, content, 0, 4096);
            } catch (NativeException e) {
                // Kernels before 6.6 refuse O_DIRECT on tmpfs: the error must say so clearly.
                assertEquals("open", e.call());
                assertEquals(Errno.EINVAL, e.errno());
                assertEquals(p.toString(), e.file());
                assertFalse(kernelAtLeast(6, 6), "kernel " + System.getProperty("os.version") + " refused O_DIRECT on tmpfs");
                return;
            }
            assertArrayEquals(content, Files.readAllBytes(p));
        } finally {
            Files.deleteIfExists(p);
            Files.delete(shm);
        }
    }

    private static boolean kernelAtLeast(int major, int minor) {
        String[] v = System.getProperty("os.version").split("[.-]");
        int maj = Integer.parseInt(v[0]), min = Integer.parseInt(v[1]);
        return maj > major || (maj == major && min >= minor);
    }

    @Test
    void directIoThroughTheRingOnADiskFile() throws IOException {
        Path p = dir.resolve("direct-ring.img");
        byte[] content = randomBytes(64 * 1024);
        Files.write(p, content);
        Completions done = new Completions();
        try (NativeFile f = NativeFile.open(p, false, true); IoUring ring = new IoUring(8)) {
            MemorySegment aligned = arena.allocate(32 * 1024, 4096);
            ring.read(f.fd(), aligned.address(), 32 * 1024, 16 * 1024, done, 1);
            ring.read(f.fd(), aligned.address(), 512, 1, done, 2); // offset not sector aligned
            ring.drain();
            done.assertResult(1, 32 * 1024);
            done.assertResult(2, -Errno.EINVAL);
            assertArrayEquals(Arrays.copyOfRange(content, 16 * 1024, 48 * 1024), aligned.toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void errorsNameTheCallTheErrnoAndTheFile() throws IOException {
        Path missing = dir.resolve("missing.img");
        NativeException e = assertThrows(NativeException.class, () -> NativeFile.open(missing, false, false));
        assertEquals("open", e.call());
        assertEquals(Errno.ENOENT, e.errno());
        assertEquals("ENOENT", e.errnoName());
        assertEquals(missing.toString(), e.file());
        assertEquals("open failed: ENOENT (No such file or directory) on " + missing, e.getMessage());

        Path p = dir.resolve("ro.img");
        Files.write(p, new byte[10]);
        try (NativeFile f = NativeFile.open(p, false, false)) {
            assertFalse(f.writable());
            NativeException w = assertThrows(NativeException.class, () -> f.writeBytes(0, new byte[] {1}));
            assertEquals("pwrite", w.call());
            assertEquals(Errno.EBADF, w.errno());
            assertEquals(p.toString(), w.file());
            NativeException t = assertThrows(NativeException.class, () -> f.truncate(0));
            assertEquals("ftruncate", t.call());
            assertEquals(Errno.EINVAL, t.errno());
        }

        NativeException dirOpen = assertThrows(NativeException.class, () -> NativeFile.open(dir, true, false));
        assertEquals(Errno.EISDIR, dirOpen.errno());
    }

    @Test
    void closeTwiceIsHarmless() throws IOException {
        Path p = dir.resolve("c.img");
        NativeFile f = NativeFile.create(p);
        int fd = f.fd();
        f.close();
        f.close();
        assertFalse(Fds.isOpen(fd));
    }

    /** The O_NONBLOCK bit of a descriptor, from the kernel's own record of its flags. */
    private static boolean nonBlocking(NativeFile f) throws IOException {
        String flags = Files.readAllLines(Path.of("/proc/self/fdinfo/" + f.fd())).stream()
                .filter(l -> l.startsWith("flags:")).findFirst().orElseThrow().substring(6).strip();
        return (Integer.parseInt(flags, 8) & 04000) != 0;
    }

    @Test
    void openRegularRefusesSpecialFilesWithoutBlocking() throws Exception {
        Path fifo = dir.resolve("fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        // A plain read-only open of a FIFO would wait for a writer forever.
        var e = assertTimeoutPreemptively(java.time.Duration.ofSeconds(10), () -> assertThrows(
                java.nio.file.FileSystemException.class, () -> NativeFile.openRegular(fifo, false, false)));
        assertEquals(fifo + ": is a FIFO, not a regular file", e.getMessage());
        e = assertThrows(java.nio.file.FileSystemException.class, () -> NativeFile.openRegular(dir, false, false));
        assertEquals("is a directory, not a regular file", e.getReason());
        e = assertThrows(java.nio.file.FileSystemException.class, () -> NativeFile.openRegular(Path.of("/dev/null"), false, false));
        assertEquals("is a character device, not a regular file", e.getReason());
        try (UnixListener l = UnixListener.listen(dir.resolve("sock"), 1)) {
            e = assertThrows(java.nio.file.FileSystemException.class,
                    () -> NativeFile.openRegular(dir.resolve("sock"), false, false));
            assertEquals("is a socket, FIFO or device, not a regular file", e.getReason());
        }
    }

    @Test
    void openRegularGivesABlockingDescriptorAndReopenTheSameFile() throws IOException {
        Path p = dir.resolve("r.img");
        Files.write(p, randomBytes(4096));
        try (NativeFile f = NativeFile.openRegular(p, false, false)) {
            assertFalse(nonBlocking(f), "io_uring would fail reads with EAGAIN on a non-blocking descriptor");
            assertEquals(4096, f.size());
            Path moved = dir.resolve("moved.img");
            Files.move(p, moved);
            Files.write(p, new byte[1]); // a new file under the old name is not followed
            try (NativeFile again = f.reopen(true, false)) {
                assertTrue(again.writable());
                assertEquals(p, again.path());
                assertEquals(4096, again.size());
                assertArrayEquals(Files.readAllBytes(moved), again.readBytes(0, 4096));
            }
        }
    }
}
