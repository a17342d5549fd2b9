package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Images whose metadata would make the engine loop, walk or allocate without bound: each is
 * refused (at open, or the one request) with a message naming the cause.
 */
class QcowHostileMetadataTest {
    @TempDir
    Path dir;

    private static void poke(Path img, long offset, long value, int bytes) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(offset);
            for (int i = bytes - 1; i >= 0; i--) {
                f.write((int) (value >>> (8 * i)));
            }
        }
    }

    private static long peek(Path img, long offset) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            f.seek(offset);
            return f.readLong();
        }
    }

    private static long append(Path img, byte[] bytes) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            long at = (f.length() + 511) & ~511L;
            f.seek(at);
            f.write(bytes);
            return at;
        }
    }

    /**
     * Found by QcowImageFuzzTest (crash-cf24e8e2...): a refcount table without the block covering
     * the header made the allocator place a new block at offset 0, which reads as "no block", and
     * loop forever under the write lock.
     */
    @Test
    void refcountTableWithoutTheHeaderBlockIsRefusedForWriting() throws IOException {
        Path img = dir.resolve("noblock.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=512", 64 << 10);
        poke(img, peek(img, 48), 0, 8); // refcount table entry 0
        ImageException e = assertThrows(ImageException.class, () -> Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults()));
        assertTrue(e.getMessage().contains("cluster 0 holds the header but its refcount is 0"), e.getMessage());
        // Read-only opens do not allocate and still work.
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults().withReadOnly(true))) {
            assertEquals(64 << 10, image.size());
        }
    }

    /**
     * Refcount blocks claiming all 262,144 clusters they cover, nearly all past the end of the file of the file are in use: one
     * allocation would walk them all under the write lock. The write fails, the image stays usable
     * for reads.
     */
    @Test
    void refcountsClaimingEverythingPastTheEndFailTheWrite() throws IOException {
        Path img = dir.resolve("full.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=512,refcount_bits=1", 64 << 10);
        byte[] allUsed = new byte[512];
        java.util.Arrays.fill(allUsed, (byte) 0xff);
        long block = append(img, allUsed);
        long table = peek(img, 48);
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(peek(img, table)); // the real block of the first range too
            f.write(allUsed);
        }
        for (int i = 1; i < 64; i++) {
            poke(img, table + 8L * i, block, 8); // every further range: "all 4096 clusters in use"
        }
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(-Errno.EIO, d.tryWrite(0, new byte[512]));
            assertEquals(512, d.read(0, 512).length);
        }
    }

    /**
     * A dirty image with 1000 snapshots naming the same 8 MiB L1 table: the rebuild would read
     * 8 GB of tables for a file of 8 MiB. Refused once a pass read 8 times the file plus 256 MiB.
     */
    @Test
    void rebuildOfSnapshotsSharingAHugeL1IsRefused() throws IOException {
        Path img = dir.resolve("snaps.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=512,lazy_refcounts=on", 64 << 10);
        long l1;
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            l1 = (f.length() + 511) & ~511L;
            f.setLength(l1 + (8L << 20)); // a sparse L1 of 1 Mi empty entries
        }
        int snapshots = 1000;
        java.nio.ByteBuffer table = java.nio.ByteBuffer.allocate(40 * snapshots);
        for (int i = 0; i < snapshots; i++) {
            table.putLong(40 * i, l1).putInt(40 * i + 8, 1 << 20);
        }
        long at = append(img, table.array());
        poke(img, 60, snapshots, 4);
        poke(img, 64, at, 8);
        poke(img, 72, QcowHeader.INCOMPAT_DIRTY, 8);
        ImageException e = assertThrows(ImageException.class, () -> Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults()));
        assertTrue(e.getMessage().contains("rebuilding refcounts would read more than"), e.getMessage());
    }

    private String openFails(Path img) {
        ImageException e = assertThrows(ImageException.class, () -> Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults()));
        return e.getMessage();
    }

    /** Header fields past their stated bounds are refused before anything is sized from them. */
    @Test
    void headerFieldsPastTheirBoundsAreRefused() throws IOException {
        Path img = dir.resolve("fields.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=512", 64 << 10);
        byte[] pristine = java.nio.file.Files.readAllBytes(img);
        long l1 = peek(img, 40);

        poke(img, 56, (QcowHeader.MAX_REFTABLE_BYTES / 512) + 1, 4); // refcount table clusters
        assertTrue(openFails(img).contains("refcount table of 16385 clusters out of range"));

        java.nio.file.Files.write(img, pristine);
        poke(img, 60, QcowHeader.MAX_SNAPSHOTS + 1, 4);
        poke(img, 64, l1, 8);
        assertTrue(openFails(img).contains("snapshot count 65537 out of range"));

        java.nio.file.Files.write(img, pristine);
        poke(img, 8, 200, 8); // backing file name: 1024 bytes, one more than QEMU allows
        poke(img, 16, QcowHeader.MAX_BACKING_NAME + 1, 4);
        assertTrue(openFails(img).contains("backing file name length 1024 out of range"));

        java.nio.file.Files.write(img, pristine);
        int headerLength = (int) (peek(img, 96) & 0xffffffffL);
        poke(img, headerLength, 0x12345678, 4); // an unknown extension where the end marker was
        poke(img, headerLength + 4, 0xfffffff0L, 4); // of 4 GiB
        assertTrue(openFails(img).contains("runs past the header cluster"));
    }

    /** Snapshot entries: extra data past QEMU's 1024 bytes, or an L1 table past the file, stop the rebuild. */
    @Test
    void snapshotEntriesPastTheirBoundsAreRefused() throws IOException {
        Path img = dir.resolve("snapentry.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=512,lazy_refcounts=on", 64 << 10);
        java.nio.ByteBuffer entry = java.nio.ByteBuffer.allocate(512);
        entry.putLong(0, peek(img, 40)).putInt(8, 1).putInt(36, SnapshotEntry.MAX_EXTRA_DATA + 1);
        long at = append(img, entry.array());
        poke(img, 60, 1, 4);
        poke(img, 64, at, 8);
        poke(img, 72, QcowHeader.INCOMPAT_DIRTY, 8);
        assertTrue(openFails(img).contains("1025 bytes of extra data (at most 1024)"));
        poke(img, at + 36, 0, 4);
        poke(img, at, 1L << 40, 8); // its L1 table far past the end
        assertTrue(openFails(img).contains("not a cluster inside the file"));
    }

    /**
     * A compressed descriptor with every sector-count bit set names the longest stream its field
     * can (2 clusters): the read stays within the worker's two-cluster input buffer and inflates
     * one cluster, the rest of the stream is ignored.
     */
    @Test
    void compressedDescriptorWithTheLargestLengthReadsOneCluster() throws IOException {
        Path raw = dir.resolve("c.raw");
        Path img = dir.resolve("c.qcow2");
        QemuTools.create(raw, "raw", null, 64 << 10);
        QemuTools.io(raw, "raw", "write -P 0x5c 0 4k");
        QemuTools.img("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", raw.toString(), img.toString());
        long l2 = L2Entry.offset(peek(img, peek(img, 40)));
        long entry = peek(img, l2);
        assertTrue(L2Entry.compressed(entry));
        int sectorBits = L2Entry.compressedOffsetBits(12);
        long widest = entry | (((1L << (12 - 8)) - 1) << sectorBits);
        assertEquals(2 * 4096 - (L2Entry.compressedOffset(entry, 12) & 511), L2Entry.compressedLength(widest, 12));
        poke(img, l2, widest, 8);
        byte[] expected = new byte[4096];
        java.util.Arrays.fill(expected, (byte) 0x5c);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults().withReadOnly(true));
             WorkerDriver d = new WorkerDriver(image)) {
            assertArrayEquals(expected, d.read(0, 4096));
        }
    }
}
