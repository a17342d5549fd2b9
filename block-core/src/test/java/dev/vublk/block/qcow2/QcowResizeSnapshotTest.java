package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Resize (L1 growth, shrink), refcount table growth, and copy-on-write of snapshot-shared clusters. */
class QcowResizeSnapshotTest {
    @TempDir
    Path dir;

    @Test
    void growMovesL1AndShrinkFreesClusters() throws Exception {
        Path img = dir.resolve("r.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=512", 1 << 20);
        byte[] a = QcowInteropTest.pattern(0x10, 8192);
        byte[] b = QcowInteropTest.pattern(0x20, 8192);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(a.length, d.write(4096, a));
            image.resize(64L << 20); // 512-byte clusters: L1 grows from 32 to 2048 entries
            assertEquals(64L << 20, image.size());
            try (WorkerDriver d2 = new WorkerDriver(image)) {
                assertEquals(b.length, d2.write((60L << 20) + 512, b));
                assertArrayEquals(a, d2.read(4096, a.length));
                assertArrayEquals(b, d2.read((60L << 20) + 512, b.length));
                assertEquals(0, d2.flush());
            }
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        assertTrue(QemuTools.img("info", img.toString()).contains("64 MiB"));
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults())) {
            image.resize(2L << 20);
            assertEquals(2L << 20, image.size());
            try (WorkerDriver d = new WorkerDriver(image)) {
                assertArrayEquals(a, d.read(4096, a.length));
            }
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        assertTrue(QemuTools.img("info", img.toString()).contains("2 MiB"));
    }

    /**
     * A size near 2^63 is refused by the L1 limit (its entry count once overflowed to a negative
     * number and the header took the size); with an internal snapshot the image grows but does
     * not shrink, since the snapshot's L2 tables still name the clusters past the new end.
     */
    @Test
    void hugeSizesAndShrinkingUnderASnapshotAreRefused() throws Exception {
        Path img = dir.resolve("h.qcow2");
        QemuTools.create(img, "qcow2", null, 8L << 20);
        QemuTools.io(img, "qcow2", "write -P 0x61 6M 1M");
        QemuTools.img("snapshot", "-c", "snap1", img.toString());
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults())) {
            String huge = assertThrows(java.io.IOException.class, () -> image.resize(Long.MAX_VALUE & ~511L)).getMessage();
            assertTrue(huge.contains("L1 table larger than the qcow2 limit"), huge);
            String shrink = assertThrows(UnsupportedOperationException.class, () -> image.resize(4L << 20)).getMessage();
            assertTrue(shrink.contains("internal snapshots"), shrink);
            assertEquals(8L << 20, image.size());
            image.resize(16L << 20);
            assertEquals(16L << 20, image.size());
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        assertTrue(QemuTools.img("info", img.toString()).contains("16 MiB"));
        Path raw = dir.resolve("h-snap.raw");
        QemuTools.img("convert", "-O", "raw", "-l", "snapshot.name=snap1", img.toString(), raw.toString());
        byte[] snap = java.nio.file.Files.readAllBytes(raw);
        for (int i = 6 << 20; i < (7 << 20); i++) {
            assertEquals(0x61, snap[i], "the snapshot's data at " + i);
        }
    }

    @Test
    void refcountTableGrowsWhenTheFileOutgrowsIt() throws Exception {
        // 512-byte clusters with 64-bit refcounts: one block covers 64 clusters, the table 4096 blocks.
        Path img = dir.resolve("g.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=512,refcount_bits=64", 256L << 20);
        byte[] chunk = QcowInteropTest.pattern(0x33, 64 << 10);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            for (long off = 0; off < (200L << 20); off += (1 << 20)) {
                assertEquals(chunk.length, d.write(off, chunk));
            }
            assertEquals(0, d.flush());
            assertArrayEquals(chunk, d.read(199L << 20, chunk.length));
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
    }

    @Test
    void writesToSnapshotSharedClustersCopyThem() throws Exception {
        Path img = dir.resolve("s.qcow2");
        QemuTools.create(img, "qcow2", null, 8L << 20);
        QemuTools.io(img, "qcow2", "write -P 0x61 0 2M");
        QemuTools.img("snapshot", "-c", "snap1", img.toString());
        byte[] data = QcowInteropTest.pattern(0x70, 4096);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(data.length, d.write(8192, data));
            assertEquals(0, d.writeZeroes(1L << 20, 128 << 10, true));
            assertEquals(0, d.flush());
            assertArrayEquals(data, d.read(8192, data.length));
            byte[] around = d.read(0, 8192);
            byte[] want = new byte[8192];
            Arrays.fill(want, (byte) 0x61);
            assertArrayEquals(want, around);
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        // The snapshot still holds the old content.
        Path raw = dir.resolve("snap.raw");
        QemuTools.img("convert", "-O", "raw", "-l", "snapshot.name=snap1", img.toString(), raw.toString());
        byte[] snap = java.nio.file.Files.readAllBytes(raw);
        for (int i = 0; i < (2 << 20); i++) {
            if (snap[i] != 0x61) {
                throw new AssertionError("snapshot changed at " + i);
            }
        }
    }
}
