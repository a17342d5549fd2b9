package dev.vublk.block.storage.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.QemuTools;
import dev.vublk.block.storage.StorageDriver;
import dev.vublk.uring.Errno;
import dev.vublk.uring.IoVecArray;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * {@link NbdVolume} queues over a real ring against qemu-nbd (structured replies) and nbdkit
 * (told to use simple replies, or to hide WRITE_ZEROES): data read back, and the file qemu-nbd
 * serves compared by qemu-img with what was written.
 */
class NbdStorageTest extends NbdFixture {
    static final int SIZE = 64 << 20;
    static final Duration DELAY = Duration.ofSeconds(5);

    void open(NbdServer s) throws IOException {
        open(s, DELAY);
    }

    /** Writes, zeroes (both ways), flushes; reads it all back; returns the expected content of the first 4 MiB. */
    byte[] exercise() throws IOException {
        byte[] expected = new byte[4 << 20];
        byte[] a = StorageDriver.pattern(1 << 20, 1);
        assertEquals(a.length, driver.write(0, a));
        System.arraycopy(a, 0, expected, 0, a.length);
        byte[] b = StorageDriver.pattern(3 * 4096 + 17, 2);
        assertEquals(b.length, driver.write(2 << 20, b));
        System.arraycopy(b, 0, expected, 2 << 20, b.length);
        assertEquals(0, driver.zero(4096, 8192, false));
        Arrays.fill(expected, 4096, 4096 + 8192, (byte) 0);
        assertEquals(0, driver.zero(512 << 10, 256 << 10, true));
        Arrays.fill(expected, 512 << 10, 768 << 10, (byte) 0);
        assertEquals(0, driver.flush());
        assertArrayEquals(expected, driver.read(0, expected.length));
        return expected;
    }

    /** Closes queue, volume and server (qemu-nbd locks the file), then has qemu-img compare the file with {@code expected}. */
    void assertFileHolds(Path file, byte[] expected) throws IOException {
        closeAll();
        Path want = dir.resolve("expected.raw");
        try (RandomAccessFile f = new RandomAccessFile(want.toFile(), "rw")) {
            f.setLength(SIZE);
            f.write(expected);
        }
        QemuTools.Result r = QemuTools.compare(file, "raw", want, "raw");
        assertEquals(0, r.exitCode(), "qemu-img compare: " + r.describe());
    }

    @Test
    void qemuNbdStructuredRepliesReadWriteZeroFlush() throws IOException {
        Path file = rawFile(SIZE);
        open(NbdServer.qemuNbd(file, dir.resolve("q.sock")));
        assertTrue(volume.export().structured(), volume.describe());
        assertTrue(volume.writable());
        assertEquals(SIZE, volume.size());
        byte[] expected = exercise();
        assertFileHolds(file, expected);
    }

    @Test
    void overTcp() throws IOException {
        Path file = rawFile(SIZE);
        open(NbdServer.qemuNbdTcp(file));
        byte[] expected = exercise();
        assertFileHolds(file, expected);
    }

    @Test
    void nbdkitSimpleReplies() throws IOException {
        open(NbdServer.nbdkit(dir.resolve("k.sock"), "--no-sr", "memory", "64M"));
        assertFalse(volume.export().structured(), volume.describe());
        exercise();
    }

    @Test
    void nbdkitStructuredReplies() throws IOException {
        open(NbdServer.nbdkit(dir.resolve("k.sock"), "memory", "64M"));
        assertTrue(volume.export().structured(), volume.describe());
        exercise();
    }

    @Test
    void withoutWriteZeroesZerosAreWritten() throws IOException {
        open(NbdServer.nbdkit(dir.resolve("k.sock"), "--filter=nozero", "memory", "64M"));
        assertFalse(volume.export().sendsWriteZeroes(), volume.describe());
        byte[] data = StorageDriver.pattern(3 << 20, 5);
        assertEquals(data.length, driver.write(0, data));
        assertEquals(0, driver.zero(4096, (2 << 20) + 4096, true));
        assertEquals(0, driver.zero((2 << 20) + 8192, 4096, false));
        Arrays.fill(data, 4096, (2 << 20) + 8192, (byte) 0);
        Arrays.fill(data, (2 << 20) + 8192, (2 << 20) + 12288, (byte) 0);
        assertArrayEquals(data, driver.read(0, data.length));
    }

    @Test
    void requestsBeyondTheMaximumPayloadAreSplit() throws IOException {
        Path file = rawFile(SIZE);
        open(NbdServer.qemuNbd(file, dir.resolve("q.sock")));
        int length = volume.export().maxPayload() + (5 << 20) + 512;
        assertTrue(length < SIZE);
        byte[] data = StorageDriver.pattern(length, 7);
        assertEquals(length, driver.write(4096, data));
        assertArrayEquals(data, driver.read(4096, length));
        byte[] expected = new byte[4096 + length];
        System.arraycopy(data, 0, expected, 4096, length);
        assertFileHolds(file, expected);
    }

    @Test
    void manyInFlightWithUnalignedGuestBuffers() throws IOException {
        open(NbdServer.qemuNbd(rawFile(SIZE), dir.resolve("q.sock")));
        int n = 100;
        int piece = 5000;
        int[] tags = new int[n];
        for (int i = 0; i < n; i++) {
            byte[] data = StorageDriver.pattern(piece, 100 + i);
            MemorySegment seg = driver.buffer(piece + 64).asSlice(3 + i % 7, piece); // odd addresses
            MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_BYTE, 0, piece);
            IoVecArray iov = new IoVecArray(driver.arena(), 3);
            iov.add(seg.address(), 1001);
            iov.add(seg.address() + 1001, 7);
            iov.add(seg.address() + 1008, piece - 1008);
            tags[i] = driver.startWritev((long) i * piece + 1, iov);
        }
        for (int i = 0; i < n; i++) {
            assertEquals(piece, driver.await(tags[i]), "write " + i);
        }
        MemorySegment[] bufs = new MemorySegment[n];
        for (int i = 0; i < n; i++) {
            bufs[i] = driver.buffer(piece + 64).asSlice(5, piece);
            IoVecArray iov = new IoVecArray(driver.arena(), 2);
            iov.add(bufs[i].address(), 333);
            iov.add(bufs[i].address() + 333, piece - 333);
            tags[i] = driver.startReadv((long) i * piece + 1, iov);
        }
        for (int i = 0; i < n; i++) {
            assertEquals(piece, driver.await(tags[i]), "read " + i);
            assertArrayEquals(StorageDriver.pattern(piece, 100 + i), bufs[i].toArray(ValueLayout.JAVA_BYTE), "read " + i);
        }
    }

    /**
     * A server's block sizes are honoured: its minimum becomes the volume's alignment, and
     * transfers go out in pieces no larger than its maximum (nbdkit's blocksize-policy filter
     * fails any request that breaks them).
     */
    @Test
    void theServersBlockSizesAreHonoured() throws IOException {
        open(NbdServer.nbdkit(dir.resolve("k.sock"), "--filter=blocksize-policy", "memory", "64M", "blocksize-minimum=4096",
                "blocksize-preferred=4096", "blocksize-maximum=65536", "blocksize-error-policy=error"));
        assertEquals(4096, volume.alignment(), volume.describe());
        assertEquals(65536, volume.export().maxPayload(), volume.describe());
        byte[] data = StorageDriver.pattern(1 << 20, 31);
        assertEquals(data.length, driver.write(4096, data));
        assertEquals(0, driver.zero(8192, 3 * 65536, false));
        Arrays.fill(data, 4096, 4096 + 3 * 65536, (byte) 0);
        assertArrayEquals(data, driver.read(4096, data.length));
    }

    /** A payload in as many pieces as one kernel call takes goes out after its header, in a second send. */
    @Test
    void aWriteInAsManyPiecesAsTheKernelTakes() throws IOException {
        open(NbdServer.qemuNbd(rawFile(SIZE), dir.resolve("q.sock")));
        int pieces = IoVecArray.IOV_MAX;
        byte[] data = StorageDriver.pattern(pieces * 512, 21);
        MemorySegment seg = driver.copyOf(data);
        IoVecArray iov = new IoVecArray(driver.arena(), pieces);
        for (int i = 0; i < pieces; i++) {
            iov.add(seg.address() + 512L * i, 512);
        }
        assertEquals(data.length, driver.writev(8192, iov));
        assertArrayEquals(data, driver.read(8192, data.length));
    }

    @Test
    void readOnlyExportRefusesWrites() throws IOException {
        Path file = rawFile(SIZE);
        byte[] data = StorageDriver.pattern(4096, 9);
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.write(data);
        }
        open(NbdServer.qemuNbd(file, dir.resolve("q.sock"), "-r"));
        assertFalse(volume.writable());
        assertEquals(-Errno.EROFS, driver.write(0, new byte[4096]));
        assertEquals(-Errno.EROFS, driver.zero(0, 4096, true));
        assertArrayEquals(data, driver.read(0, 4096));
        assertTrue(Files.exists(file));
    }
}
