package dev.vublk.tests.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.backend.ProcessBackend;
import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.BlkQueueDriver;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
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
            dev.vublk.tests.vm.HostImages.run(List.of("qemu-img", "create", "-q", "-f", "vhdx", "-o", "block_size=1M",
                    image.toString(), Long.toString(64L << 20)));
        } else {
            QemuImg.create(format, image, 64L << 20);
        }
        fs.fillLeaving(LEFT_FREE);
        return image;
    }

    private BlkQueueDriver serve(Path image, String format, String... options) throws Exception {
        backend = ProcessBackend.ours(new BackendSpec(image, format, 1, false, "full", 512, true),
                dir.resolve("vhost.sock"), System.getProperty("java.class.path"), List.of(options));
        frontend = VhostUserBlkFrontend.open(dir.resolve("vhost.sock"), FrontendOptions.qemu(1));
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

        fs.freeFiller();
        for (int i : failed) {
            assertEquals(BlkCommand.S_OK, q.write(sector(i), Patterns.bytes(i, CHUNK)).status(), () -> "write " + i + " with space: " + backend.log());
        }
        assertEquals(BlkCommand.S_OK, q.flush().status());
        for (int i = 0; i < CHUNKS; i++) {
            assertArrayEquals(Patterns.bytes(i, CHUNK), q.read(sector(i), CHUNK).data(), "chunk " + i);
        }
        frontend.close();
        frontend = null;
        backend.close(); // the image is closed (flushed) before qemu-img looks at it
        backend = null;
        assertImage(format, image, CHUNKS);
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
