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
            assertEquals(-Errno.EIO, d.write(0, new byte[512]));
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
}
