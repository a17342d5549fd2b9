package dev.vublk.tests.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.backend.ProcessBackend;
import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.BlkCompletion;
import dev.vublk.tests.frontend.GuestBuffer;
import dev.vublk.tests.frontend.BlkQueueDriver;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import dev.vublk.tests.vm.HostImages;
import dev.vublk.tests.vm.QemuImg;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The image's file system runs out of space under allocating writes (a small tmpfs): the
 * writes that found no room fail with IOERR, the others read back intact, the image stays
 * consistent for qemu-img, and once space returns writes succeed again on the same connection.
 */
class FullDiskTest {
    /** Room the tmpfs leaves the guest: far less than the writes below ask for. */
    private static final long LEFT_FREE = 2L << 20;
    private static final int CHUNK = 256 << 10;
    private static final int CHUNKS = 40; // 10 MiB of allocating writes

    @TempDir
    Path dir;
    private SmallTmpfs fs;
    private ProcessBackend backend;
    private VhostUserBlkFrontend frontend;

    @AfterEach
    void tearDown() throws Exception {
        if (frontend != null) {
            frontend.close();
        }
        if (backend != null) {
            backend.close();
        }
        if (fs != null) {
            fs.close();
        }
    }

    /** A tmpfs with a fresh image of {@code format} on it, and all but {@link #LEFT_FREE} of its space taken. */
    private Path fullImage(String format) throws Exception {
        fs = SmallTmpfs.mount(dir.resolve("fs"), 16L << 20);
        Path image = fs.dir().resolve("disk." + format);
        if (format.equals("raw")) {
            try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
                f.setLength(64L << 20); // sparse: every write allocates
            }
        } else if (format.equals("vhdx")) {
            HostImages.run(List.of("qemu-img", "create", "-q", "-f", "vhdx", "-o", "block_size=1M",
                    image.toString(), Long.toString(64L << 20)));
        } else {
            QemuImg.create(format, image, 64L << 20);
        }
        fs.fillLeaving(LEFT_FREE);
        return image;
    }

    private BlkQueueDriver serve(Path image, String format, String... options) throws Exception {
        backend = ProcessBackend.ours(new BackendSpec(image, format, 2, false, "full", 512, true),
                dir.resolve("vhost.sock"), System.getProperty("java.class.path"), List.of(options));
        frontend = VhostUserBlkFrontend.open(dir.resolve("vhost.sock"), FrontendOptions.qemu(2));
        return frontend.queue(0);
    }

    private static long sector(int chunk) {
        return (long) chunk * CHUNK / 512;
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"raw", "qcow2", "vhdx"})
    void writesFailWithIoErrorUntilSpaceReturns(String format) throws Exception {
        Path image = fullImage(format);
        BlkQueueDriver q = serve(image, format);
        List<Integer> written = new ArrayList<>();
        List<Integer> failed = new ArrayList<>();
        for (int i = 0; i < CHUNKS; i++) {
            int status = q.write(sector(i), Patterns.bytes(i, CHUNK)).status();
            assertTrue(status == BlkCommand.S_OK || status == BlkCommand.S_IOERR, "write " + i + ": status " + status);
            (status == BlkCommand.S_OK ? written : failed).add(i);
        }
        assertTrue(failed.size() >= CHUNKS - LEFT_FREE / CHUNK, "failed " + failed + ", written " + written);
        assertEquals(failed.getFirst() - 1, (int) written.getLast(), "from the first failure on, every allocating write fails");
        for (int i : written) {
            assertArrayEquals(Patterns.bytes(i, CHUNK), q.read(sector(i), CHUNK).data(), "chunk " + i + " written before");
        }
        // QCOW2 writes its new L2 table into a new cluster, which has no room: the flush fails and
        // is retried by the next one. RAW and VHDX (metadata durable with each allocation) only sync.
        assertEquals(format.equals("qcow2") ? BlkCommand.S_IOERR : BlkCommand.S_OK, q.flush().status(), "flush while full");

        fs.freeFiller();
        for (int i : failed) {
            assertEquals(BlkCommand.S_OK, q.write(sector(i), Patterns.bytes(i, CHUNK)).status(), () -> "write " + i + " with space: " + backend.log());
        }
        assertEquals(BlkCommand.S_OK, q.flush().status());
        for (int i = 0; i < CHUNKS; i++) {
            assertArrayEquals(Patterns.bytes(i, CHUNK), q.read(sector(i), CHUNK).data(), "chunk " + i);
        }
        closeBackend();
        assertImage(format, image, CHUNKS);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"raw", "qcow2", "vhdx"})
    void waitHoldsTheWriteUntilSpaceReturns(String format) throws Exception {
        Path image = fullImage(format);
        BlkQueueDriver q = serve(image, format, "--on-enospc", "wait", "--enospc-max-wait", "60");
        int heldChunk = writeUntilOneIsHeld(q);
        BlkQueueDriver other = frontend.queue(1); // neither the process nor the other queue waits for the held write
        assertArrayEquals(Patterns.bytes(0, CHUNK), other.read(sector(0), CHUNK).data());
        assertEquals(BlkCommand.S_OK, other.write(sector(0), Patterns.bytes(0, CHUNK)).status(), "a rewrite needs no new space");
        assertEquals(null, q.poll(), "the write on queue 0 is still held");
        fs.freeFiller();
        BlkCompletion done = q.await(); // the next retry gets through
        assertEquals(BlkCommand.S_OK, done.status(), () -> "the held write, once space returned: " + backend.log());
        String log = backend.log();
        assertEquals(1, count(log, "holding such requests"), log);
        assertEquals(1, count(log, "no request held for space any more"), log);
        assertTrue(log.contains("1 completed, 0 reported as I/O errors"), log);
        assertTrue(log.contains(", on ENOSPC wait (retry every 1 s, at most 60 s)"), log);
        writeTheRestAndCheck(q, format, image, heldChunk + 1);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"raw", "qcow2", "vhdx"})
    void waitReportsAnIoErrorAfterTheBound(String format) throws Exception {
        Path image = fullImage(format);
        BlkQueueDriver q = serve(image, format, "--on-enospc", "wait", "--enospc-max-wait", "2");
        int heldChunk = writeUntilOneIsHeld(q);
        assertEquals(BlkCommand.S_IOERR, q.await().status(), () -> "never any space: " + backend.log());
        assertTrue(backend.log().contains("0 completed, 1 reported as I/O errors"), backend.log());
        fs.freeFiller();
        writeTheRestAndCheck(q, format, image, heldChunk);
    }

    /** Writes chunks {@code from} on (there is space now), flushes, closes, and checks the image holds every chunk. */
    private void writeTheRestAndCheck(BlkQueueDriver q, String format, Path image, int from) throws Exception {
        for (int i = from; i < CHUNKS; i++) {
            assertEquals(BlkCommand.S_OK, q.write(sector(i), Patterns.bytes(i, CHUNK)).status(), "write " + i + " with space");
        }
        assertEquals(BlkCommand.S_OK, q.flush().status());
        closeBackend();
        assertImage(format, image, CHUNKS);
    }

    /**
     * SIGTERM while a write is held: the guest gets it back as an I/O error and the process ends.
     * VHDX metadata is durable with each allocation, so it closes cleanly with everything
     * written before. QCOW2 must write back its new tables at close and has no room: it exits
     * with the error, and the refcounts written ahead of the tables leave leaked clusters only
     * (qemu-img check exit 3, no corruption); the writes the guest never flushed are not in it.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qcow2", "vhdx"})
    void sigtermGivesTheHeldWriteBack(String format) throws Exception {
        Path image = fullImage(format);
        BlkQueueDriver q = serve(image, format, "--on-enospc", "wait", "--enospc-max-wait", "600");
        int heldChunk = writeUntilOneIsHeld(q);
        backend.process().destroy(); // SIGTERM
        assertEquals(BlkCommand.S_IOERR, q.await().status(), () -> "held write at shutdown: " + backend.log());
        assertTrue(backend.process().waitFor(20, java.util.concurrent.TimeUnit.SECONDS), backend.log());
        String log = backend.log();
        int exit = backend.process().exitValue();
        assertTrue(log.contains("0 completed, 1 reported as I/O errors"), log);
        closeBackend();
        fs.freeFiller();
        if (format.equals("vhdx")) {
            assertEquals(0, exit, log);
            assertImage(format, image, heldChunk);
        } else {
            assertEquals(1, exit, log);
            assertTrue(log.contains("pwrite failed: ENOSPC"), log);
            HostImages.Result check = HostImages.exec(List.of("qemu-img", "check", "-f", format, image.toString()));
            assertEquals(3, check.exitCode(), check.describe()); // leaks, and nothing worse
            assertTrue(check.describe().contains("leaked clusters were found") && !check.describe().contains("ERROR"),
                    check.describe());
        }
    }

    /**
     * Writes chunk after chunk, each awaited, until one is held: the backend logs that its queue
     * holds requests, and that write stays in flight. Every write before it succeeded.
     */
    private int writeUntilOneIsHeld(BlkQueueDriver q) throws Exception {
        GuestBuffer buffer = frontend.ram().allocate(0, CHUNK, 512);
        for (int i = 0; i < CHUNKS; i++) {
            frontend.ram().write(buffer, Patterns.bytes(i, CHUNK));
            q.submit(BlkCommand.write(sector(i), buffer));
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (true) {
                BlkCompletion done = q.poll();
                if (done != null) {
                    assertEquals(BlkCommand.S_OK, done.status(), "write " + i + " before the disk is full");
                    break;
                }
                if (backend.log().contains("holding such requests")) {
                    assertEquals(null, q.poll(), "the held write stays in flight");
                    return i;
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("write " + i + " neither completed nor held: " + backend.log());
                }
                Thread.sleep(10);
            }
        }
        throw new AssertionError("no write was held on a disk with " + LEFT_FREE + " bytes free: " + backend.log());
    }

    private void closeBackend() throws Exception {
        frontend.close();
        frontend = null;
        backend.close(); // the image is closed (flushed) before qemu-img looks at it
        backend = null;
    }

    private static int count(String text, String part) {
        int n = 0;
        for (int at = text.indexOf(part); at >= 0; at = text.indexOf(part, at + 1)) {
            n++;
        }
        return n;
    }

    /** qemu-img finds the image clean and holding chunk i's pattern for every i below {@code chunks}. */
    private void assertImage(String format, Path image, int chunks) throws Exception {
        if (!format.equals("raw")) {
            QemuImg.assertCheckClean(format, image);
        }
        Path raw = format.equals("raw") ? image : QemuImg.toRaw(format, image, dir.resolve("as-raw.img"));
        byte[] all = Files.readAllBytes(raw);
        for (int i = 0; i < chunks; i++) {
            int at = i * CHUNK;
            assertArrayEquals(Patterns.bytes(i, CHUNK), Arrays.copyOfRange(all, at, at + CHUNK), "chunk " + i + " in the file");
        }
    }
}
