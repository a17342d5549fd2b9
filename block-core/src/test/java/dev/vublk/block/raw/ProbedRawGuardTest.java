package dev.vublk.block.raw;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.Errno;
import dev.vublk.uring.IoVecArray;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A RAW image whose format was detected must stay RAW: a guest write that would start it with a
 * qcow2 or VHDX header (which could name any host file as backing file) fails with EIO and
 * changes nothing; with the format given as RAW the same write goes through.
 */
class ProbedRawGuardTest {
    private static final int SIZE = 1 << 20;

    @TempDir
    Path dir;

    private Path raw;
    private byte[] original;

    @BeforeEach
    void createImage() throws IOException {
        raw = dir.resolve("disk.img");
        original = new byte[SIZE];
        for (int i = 0; i < SIZE; i++) {
            original[i] = (byte) (i * 7 + 3);
        }
        Files.write(raw, original);
    }

    /** The first bytes of a real image of {@code format}, as a guest would copy them. */
    private byte[] header(String format, int length) throws IOException {
        Path img = dir.resolve("made." + format);
        QemuTools.create(img, format, null, 8 << 20);
        return Arrays.copyOf(Files.readAllBytes(img), length);
    }

    private static BlockImage probed(Path path, boolean direct) throws IOException {
        return Images.open(path, null, ImageOptions.defaults().withDirect(direct));
    }

    private void assertUnchanged(WorkerDriver d) throws IOException {
        assertArrayEquals(Arrays.copyOf(original, 65536), d.read(0, 65536));
        assertArrayEquals(original, Files.readAllBytes(raw));
        assertEquals(ImageFormat.RAW, Images.detect(raw));
    }

    @ParameterizedTest
    @ValueSource(strings = {"qcow2", "vhdx"})
    void probedRawRefusesAnotherFormatsHeaderAtSectorZero(String format) throws IOException {
        byte[] head = header(format, 4096);
        try (BlockImage image = probed(raw, false); WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(ImageFormat.RAW, image.format());
            assertEquals(-Errno.EIO, d.tryWrite(0, head));
            assertEquals(-Errno.EIO, d.tryWrite(0, Arrays.copyOf(head, 512)));
            assertEquals(-Errno.EIO, d.tryWrite(0, Arrays.copyOf(head, 256 << 10)));
            assertUnchanged(d);
        }
    }

    @Test
    void explicitRawAllowsTheSameWrite() throws IOException {
        byte[] head = header("qcow2", 4096);
        try (BlockImage image = Images.open(raw, ImageFormat.RAW, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(4096, d.write(0, head));
            assertArrayEquals(head, d.read(0, 4096));
        }
        assertEquals(ImageFormat.QCOW2, Images.detect(raw));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1})
    void guardHoldsWithDirectIoAlignedOrNot(int misalign) throws IOException {
        byte[] head = header("qcow2", 4096);
        try (BlockImage image = probed(raw, true); WorkerDriver d = new WorkerDriver(image);
             Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(4096 + 4096, 4096).asSlice(misalign, 4096);
            MemorySegment.copy(head, 0, buf, ValueLayout.JAVA_BYTE, 0, head.length);
            IoVecArray iov = new IoVecArray(arena, 1);
            iov.add(buf.address(), 4096);
            assertEquals(-Errno.EIO, d.tryWritev(0, iov));
            assertUnchanged(d);
        }
    }

    @Test
    void magicSplitAcrossIovecsIsStillSeen() throws IOException {
        byte[] head = header("qcow2", 4096);
        try (BlockImage image = probed(raw, false); WorkerDriver d = new WorkerDriver(image);
             Arena arena = Arena.ofConfined()) {
            // 1 + 2 + 3 + rest: the four magic bytes land in three entries.
            IoVecArray iov = new IoVecArray(arena, 4);
            int at = 0;
            for (int len : new int[] {1, 2, 3, 4090}) {
                MemorySegment piece = arena.allocate(len);
                MemorySegment.copy(head, at, piece, ValueLayout.JAVA_BYTE, 0, len);
                iov.add(piece.address(), len);
                at += len;
            }
            assertEquals(-Errno.EIO, d.tryWritev(0, iov));
            assertUnchanged(d);
        }
    }

    @Test
    void otherWritesPassUntouched() throws IOException {
        byte[] head = header("qcow2", 4096);
        byte[] plain = new byte[4096];
        Arrays.fill(plain, (byte) 0x11);
        try (BlockImage image = probed(raw, false); WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(4096, d.write(512, head), "the magic past the first sector does not matter");
            assertArrayEquals(head, d.read(512, 4096));
            assertEquals(4096, d.write(0, plain), "ordinary data at sector 0");
            assertArrayEquals(plain, d.read(0, 4096));
            assertEquals(0, d.writeZeroes(0, 4096, false), "zeros are no format's magic");
            assertEquals(0, d.discard(0, 4096));
            assertArrayEquals(new byte[4096], d.read(0, 4096));
        }
        assertEquals(ImageFormat.RAW, Images.detect(raw));
    }

    @Test
    void chainDescriptionNamesTheDetectedFormat() throws IOException {
        try (BlockImage image = probed(raw, false)) {
            assertTrue(((RawImage) image).guardsFirstSector());
            assertEquals(java.util.List.of("image " + raw + ": RAW, " + SIZE
                    + " bytes, read-write, format detected (writes that would change it are refused)"), Images.describeChain(image));
        }
        try (BlockImage image = Images.open(raw, ImageFormat.RAW, ImageOptions.defaults())) {
            assertFalse(((RawImage) image).guardsFirstSector());
        }
    }
}
