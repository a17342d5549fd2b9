package dev.vublk.block.contract;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.block.raw.RawImage;
import dev.vublk.block.storage.nbd.NbdServer;
import dev.vublk.block.storage.nbd.NbdVolume;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;

/**
 * One image of a {@link Fixture} opened through {@link Images#open}, driven through its
 * {@link dev.vublk.block.BlockWorker} on a real ring, beside what it must show: a model of the
 * guest-visible bytes, and a RAW reference image that receives the same requests. Every change
 * goes to both; {@link #closeAndCheck()} then has {@code qemu-img} check the image and compare it
 * with the reference, so what is on disk is judged by a second implementation, not only by our
 * own reads.
 */
final class ContractImage implements AutoCloseable {
    static final int SECTOR = 512;

    final Fixture fixture;
    final boolean direct;
    final Path path;
    final byte[] model;
    private final Path referencePath;
    private BlockImage image;
    private WorkerDriver driver;
    private BlockImage reference;
    private WorkerDriver referenceDriver;
    private NbdServer nbdServer;

    private ContractImage(Fixture fixture, boolean direct, Path path, Path referencePath, byte[] model) {
        this.fixture = fixture;
        this.direct = direct;
        this.path = path;
        this.referencePath = referencePath;
        this.model = model;
    }

    /** Every fixture, buffered and with O_DIRECT: the arguments of {@link EveryImage} tests. */
    static Stream<Arguments> everyImage() {
        return Arrays.stream(Fixture.values()).flatMap(f -> f.remote() ? Stream.of(Arguments.of(f, false))
                : Stream.of(Arguments.of(f, false), Arguments.of(f, true)));
    }

    /** What a contract test does with its image between creation and the final checks. */
    @FunctionalInterface
    interface Steps {
        void run(ContractImage c) throws Exception;
    }

    /** Creates the fixture in {@code dir}, runs {@code steps} on it, then {@link #closeAndCheck()}. */
    static void check(Fixture fixture, boolean direct, Path dir, Steps steps) throws Exception {
        try (ContractImage c = create(fixture, direct, dir)) {
            steps.run(c);
            c.closeAndCheck();
        }
    }

    /** Creates the fixture in {@code dir} and opens it read-write ({@code direct}: with O_DIRECT). */
    private static ContractImage create(Fixture fixture, boolean direct, Path dir) throws IOException {
        byte[] model = fixture.initialContent();
        ContractImage c = new ContractImage(fixture, direct, fixture.create(dir), dir.resolve("reference.raw"), model);
        Files.write(c.referencePath, model);
        c.open(false);
        c.reference = Images.open(c.referencePath, ImageFormat.RAW, ImageOptions.defaults());
        c.referenceDriver = new WorkerDriver(c.reference);
        return c;
    }

    /** (Re)opens the image under test, closing the current open first. */
    void open(boolean readOnly) throws IOException {
        closeImage();
        image = fixture.overNbd() ? openOverNbd(readOnly)
                : fixture.open(path, ImageOptions.defaults().withDirect(direct).withReadOnly(readOnly));
        // An open that silently fell back to the page cache (for the image or a file below it)
        // would let the O_DIRECT runs pass untested.
        for (BlockImage i = image; i != null; i = i.backing()) {
            int a = i.memoryAlignment();
            assertEquals(direct, a > 1, i.path() + ": O_DIRECT in effect (memory alignment " + a + ")");
            assertTrue(a == 1 || (Integer.bitCount(a) == 1 && a >= 512 && a <= 4096), i.path() + ": memory alignment " + a);
            assertTrue(i.requestAlignment() >= a, i.path() + ": request alignment " + i.requestAlignment() + " below " + a);
        }
        driver = new WorkerDriver(image);
    }

    /** The file served by qemu-nbd for as long as this open lasts (qemu-img checks it once the server is gone). */
    private BlockImage openOverNbd(boolean readOnly) throws IOException {
        nbdServer = NbdServer.qemuNbd(path, path.resolveSibling("nbd.sock"));
        return RawImage.over(NbdVolume.open(nbdServer.uri(), readOnly, Duration.ofSeconds(5)), readOnly);
    }

    WorkerDriver driver() { return driver; }

    private MemorySegment place(BufferLayout layout, byte[] data) {
        MemorySegment seg = layout.allocate(driver.arena(), data.length);
        MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_BYTE, 0, data.length);
        return seg;
    }

    /** Writes {@code data} from guest memory laid out as given, to the reference too; returns the worker's result. */
    int write(long offset, byte[] data, BufferLayout layout) throws IOException {
        MemorySegment seg = place(layout, data);
        int result = driver.writev(offset, layout.iovecs(driver.arena(), seg));
        referenceDriver.write(offset, data);
        System.arraycopy(data, 0, model, (int) offset, data.length);
        return result;
    }

    void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        assertEquals(0, driver.writeZeroes(offset, length, mayUnmap), "write-zeroes at " + offset);
        referenceDriver.write(offset, new byte[(int) length]);
        Arrays.fill(model, (int) offset, (int) (offset + length), (byte) 0);
    }

    /**
     * Discards, then checks what virtio allows: each sector of the range reads as before or as
     * zeros (never the data of a lower image the guest had overwritten). The model and the
     * reference then take what the image shows.
     */
    void discard(long offset, int length) throws IOException {
        assertEquals(0, driver.discard(offset, length), "discard at " + offset);
        byte[] now = read(offset, length, BufferLayout.ONE);
        byte[] zeros = new byte[SECTOR];
        for (int s = 0; s < length; s += SECTOR) {
            int at = (int) offset + s;
            boolean kept = Arrays.equals(now, s, s + SECTOR, model, at, at + SECTOR);
            boolean zeroed = Arrays.equals(now, s, s + SECTOR, zeros, 0, SECTOR);
            assertTrue(kept || zeroed, fixture + ": discarded sector at " + at + " reads neither its data nor zeros");
        }
        referenceDriver.write(offset, now);
        System.arraycopy(now, 0, model, (int) offset, length);
    }

    byte[] read(long offset, int length, BufferLayout layout) throws IOException {
        MemorySegment seg = layout.allocate(driver.arena(), length);
        seg.fill((byte) 0x5a);
        driver.readv(offset, layout.iovecs(driver.arena(), seg));
        return seg.toArray(ValueLayout.JAVA_BYTE);
    }

    /** Reads {@code [offset, offset + length)} with the given layout and compares with the model. */
    void assertReads(long offset, int length, BufferLayout layout) throws IOException {
        assertArrayEquals(Arrays.copyOfRange(model, (int) offset, (int) offset + length), read(offset, length, layout),
                fixture + (direct ? " O_DIRECT" : "") + ": " + length + " bytes at " + offset + " with " + layout);
    }

    /** The whole image reads as the model. */
    void assertContent() throws IOException {
        int chunk = 4 << 20;
        for (int off = 0; off < model.length; off += chunk) {
            assertReads(off, Math.min(chunk, model.length - off), BufferLayout.SECTORS);
        }
    }

    private void closeImage() throws IOException {
        close(driver, image);
        driver = null;
        image = null;
        if (nbdServer != null) {
            nbdServer.close();
            nbdServer = null;
        }
    }

    private void closeReference() throws IOException {
        close(referenceDriver, reference);
        referenceDriver = null;
        reference = null;
    }

    /** The worker's ring first, then the image it serves; either may be absent. */
    private static void close(WorkerDriver d, BlockImage i) throws IOException {
        if (d != null) {
            d.close();
        }
        if (i != null) {
            i.close();
        }
    }

    /**
     * Flushes and closes everything, then requires {@code qemu-img check} to find the image clean
     * (exit 0: no corruption, no leak) and {@code qemu-img compare} to find it equal to the
     * reference; reopens the image read-only to show it reads back the model after a close.
     */
    void closeAndCheck() throws IOException {
        if (!image.readOnly()) {
            assertEquals(0, driver.flush(), "flush");
        }
        closeImage();
        closeReference();
        if (fixture.qemuOpens()) {
            assertQemuAgrees(fixture.qemuView(path), fixture.qemuFormat(), referencePath);
        } else {
            // The parent must be as created: a differencing disk never writes below itself.
            Path parent = fixture.lowerImage(path.getParent());
            Path lower = path.getParent().resolve(Fixture.LOWER_RAW);
            assertQemuAgrees(parent, fixture.qemuFormat(), lower);
        }
        open(true);
        assertContent();
        closeImage();
    }

    private static void assertQemuAgrees(Path image, String format, Path raw) {
        if (!format.equals("raw")) {
            QemuTools.Result check = QemuTools.check(image, format);
            assertEquals(0, check.exitCode(), "qemu-img check " + image + ": " + check.describe());
        }
        QemuTools.Result compare = QemuTools.compare(image, format, raw, "raw");
        assertEquals(0, compare.exitCode(), "qemu-img compare " + image + " with " + raw + ": " + compare.describe());
    }

    @Override
    public void close() throws IOException {
        closeImage();
        closeReference();
    }
}
