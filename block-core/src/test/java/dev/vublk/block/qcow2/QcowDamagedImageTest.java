package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageException;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.Errno;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Damaged or hostile images: a clear ImageException at open, or -EIO for the request; never a hang. */
class QcowDamagedImageTest {
    @TempDir
    Path dir;
    Path img;

    @BeforeEach
    void makeImage() {
        img = dir.resolve("d.qcow2");
        QemuTools.create(img, "qcow2", null, 16L << 20);
        QemuTools.io(img, "qcow2", "write -P 0x42 0 1M");
    }

    private void poke(long offset, long value, int bytes) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(offset);
            for (int i = bytes - 1; i >= 0; i--) {
                f.write((int) (value >>> (8 * i)));
            }
        }
    }

    private long peek(long offset) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            f.seek(offset);
            return f.readLong();
        }
    }

    private String openFails(ImageOptions options) {
        ImageException e = assertThrows(ImageException.class, () -> Images.open(img, ImageFormat.QCOW2, options).close());
        assertTrue(e.getMessage().startsWith(img.toString()), e.getMessage());
        return e.getMessage();
    }

    private String openFails() {
        return openFails(ImageOptions.defaults());
    }

    @Test
    void truncatedFile() throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(60);
        }
        assertTrue(openFails().contains("too short"));
    }

    @Test
    void truncatedBeforeTheTables() throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(65536);
        }
        assertTrue(openFails().contains("past the end"));
    }

    @Test
    void l1OffsetPastTheEnd() throws IOException {
        poke(40, 1L << 40, 8);
        assertTrue(openFails().contains("L1 table"));
    }

    @Test
    void l1OffsetUnaligned() throws IOException {
        poke(40, peek(40) + 8, 8);
        assertTrue(openFails().contains("not a valid cluster offset"));
    }

    @Test
    void refcountTableUnalignedOrPastTheEnd() throws IOException {
        poke(48, peek(48) + 512, 8);
        assertTrue(openFails().contains("refcount table"));
        poke(48, 1L << 45, 8);
        assertTrue(openFails().contains("refcount table"));
    }

    @Test
    void overlappingTables() throws IOException {
        poke(40, peek(48), 8); // L1 at the refcount table
        assertTrue(openFails().contains("overlaps"));
    }

    @Test
    void absurdFieldValues() throws IOException {
        poke(20, 31, 4);
        assertTrue(openFails().contains("cluster_bits"));
        poke(20, 16, 4);
        poke(36, 0x7fffffffL, 4);
        assertTrue(openFails().contains("too large"));
        poke(36, 1, 4);
        poke(24, 1L << 62, 8);
        assertTrue(openFails().contains("virtual size"));
        poke(24, 16L << 20, 8);
        poke(100, 1 << 20, 4);
        assertTrue(openFails().contains("header_length"));
        poke(100, 112, 4);
        poke(96, 9, 4);
        assertTrue(openFails().contains("refcount_order"));
        poke(96, 4, 4);
        poke(4, 7, 4);
        assertTrue(openFails().contains("version 7"));
    }

    @Test
    void unknownIncompatibleFeaturesAreNamed() throws IOException {
        poke(72, (1L << 9) | (1L << 20), 8);
        String m = openFails();
        assertTrue(m.contains("bit 9") && m.contains("bit 20") && m.contains("unsupported incompatible"), m);
    }

    @Test
    void corruptImagesOpenReadOnlyOnly() throws IOException {
        poke(72, 2, 8);
        assertTrue(openFails().contains("corrupt"));
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults().withReadOnly(true));
             WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(0x42, d.read(4096, 512)[7]);
        }
    }

    @Test
    void dirtyBitOnAConsistentImageIsClearedByARebuild() throws IOException {
        poke(72, 1, 8);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults().withReadOnly(true));
             WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(0x42, d.read(0, 512)[0]);
        }
        assertEquals(1, peek(72) & 1, "a read-only open leaves the dirty bit alone");
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(0x42, d.read(0, 512)[0]);
        }
        assertEquals(0, peek(72) & 1);
        QemuTools.assertCheckClean(img, "qcow2", false);
    }

    @Test
    void l1EntryPastTheEnd() throws IOException {
        long l1 = peek(40);
        poke(l1, (1L << 63) | (1L << 40), 8);
        assertTrue(openFails().contains("past the end"));
    }

    @Test
    void badL2EntryFailsTheRequestNotTheWorker() throws IOException {
        long l2 = peek(peek(40)) & L2Entry.OFFSET_MASK;
        poke(l2, peek(l2) + 512, 8); // unaligned data cluster
        poke(l2 + 8, (1L << 63) | 512 | 1, 8); // invalid: unaligned and zero bit
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image);
             Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(4096);
            assertEquals(-Errno.EIO, d.tryReadInto(0, buf));
            assertEquals(-Errno.EIO, d.tryReadInto(65536, buf));
            assertEquals(4096, d.tryReadInto(2L << 20, buf)); // the rest of the image still works
            assertEquals(-Errno.EIO, d.tryReadInto(16L << 20, buf)); // out of range
            assertEquals(-Errno.EIO, d.tryWrite(65536 + 512, new byte[512]));
        }
    }

    @Test
    void backingLoopsAndDepthAreBounded() throws IOException {
        Path a = dir.resolve("a.qcow2");
        Path b = dir.resolve("b.qcow2");
        QemuTools.create(a, "qcow2", null, 1 << 20);
        QemuTools.img("create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", b.toString());
        QemuTools.img("rebase", "-u", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", a.toString());
        ImageException e = assertThrows(ImageException.class, () -> Images.open(b, null, ImageOptions.defaults()));
        assertTrue(e.getMessage().contains("loop"), e.getMessage());

        Path c = dir.resolve("c.qcow2");
        Path d = dir.resolve("d2.qcow2");
        QemuTools.img("rebase", "-u", "-f", "qcow2", "-b", "", a.toString());
        QemuTools.img("create", "-q", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", c.toString());
        QemuTools.img("create", "-q", "-f", "qcow2", "-b", "c.qcow2", "-F", "qcow2", d.toString());
        ImageOptions shallow = new ImageOptions(false, false, false, 0, 1);
        e = assertThrows(ImageException.class, () -> Images.open(d, null, shallow));
        assertTrue(e.getMessage().contains("deeper than 1"), e.getMessage());
        Images.open(d, null, ImageOptions.defaults()).close();
    }

    @Test
    void missingBackingFile() throws IOException {
        Path top = dir.resolve("top.qcow2");
        QemuTools.img("create", "-q", "-f", "qcow2", "-b", "d.qcow2", "-F", "qcow2", top.toString());
        Files.delete(img);
        ImageException e = assertThrows(ImageException.class, () -> Images.open(top, null, ImageOptions.defaults()));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }
}
