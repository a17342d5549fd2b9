package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A small write into an unallocated cluster that reads as zeros gets a new cluster, and only
 * when that cluster was never part of the file is the rest of it left unwritten: it reads as
 * zeros already. A free cluster the file already held may hold anything, so it is filled.
 */
class QcowFreshClusterTest {
    private static final int CLUSTER = 65536;
    private static final int BLOCK = 4096;
    private static final int CLUSTERS_WRITTEN = 8;

    @TempDir
    Path dir;

    private static byte[] pattern(int seed) {
        byte[] b = new byte[BLOCK];
        Arrays.fill(b, (byte) (0x40 + seed));
        return b;
    }

    /** Bytes the file system holds for the file (st_blocks): what was really written. */
    private static long allocatedBytes(Path file) {
        return Long.parseLong(QemuTools.runOk("stat", "-c", "%b", file.toString()).trim()) * 512;
    }

    @Test
    void writesIntoNeverWrittenClustersWriteOnlyTheGuestBytes() throws Exception {
        Path img = dir.resolve("fresh.qcow2");
        Path raw = dir.resolve("fresh.raw");
        QemuTools.create(img, "qcow2", "cluster_size=65536", 64L << 20);
        QemuTools.img("create", "-q", "-f", "raw", raw.toString(), Long.toString(64L << 20));
        long before = allocatedBytes(img);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image);
             RandomAccessFile reference = new RandomAccessFile(raw.toFile(), "rw")) {
            for (int k = 0; k < CLUSTERS_WRITTEN; k++) {
                long offset = (long) k * 3 * CLUSTER + (k % 4) * 4 * BLOCK; // start, middle and end of clusters
                assertEquals(BLOCK, d.write(offset, pattern(k)));
                reference.seek(offset);
                reference.write(pattern(k));
                byte[] cluster = d.read(offset & -(long) CLUSTER, CLUSTER);
                byte[] expected = new byte[CLUSTER];
                System.arraycopy(pattern(k), 0, expected, (int) (offset % CLUSTER), BLOCK);
                assertArrayEquals(expected, cluster, "cluster " + k + " right after its first write");
            }
            assertEquals(0, d.flush());
        }
        // One L2 table (64 KiB) and 8 x 4 KiB of data; filling every cluster would have added 512 KiB.
        long grown = allocatedBytes(img) - before;
        assertTrue(grown < CLUSTERS_WRITTEN * CLUSTER / 2, "the file grew by " + grown + " bytes for "
                + CLUSTERS_WRITTEN + " writes of 4 KiB: fresh clusters were filled with zeros");
        QemuTools.assertCheckClean(img, "qcow2", false);
        QemuTools.assertSameContent(img, "qcow2", raw, "raw");
    }

    @Test
    void freeClustersTheFileHeldAtOpenAreFilled() throws Exception {
        Path img = dir.resolve("stale.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=65536", 64L << 20);
        // Stale bytes past the metadata, in clusters with refcount 0: what a crash can leave.
        byte[] stale = new byte[16 * CLUSTER];
        Arrays.fill(stale, (byte) 0xEE);
        Files.write(img, stale, java.nio.file.StandardOpenOption.APPEND);
        QemuTools.assertCheckClean(img, "qcow2", false);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            for (int k = 0; k < 4; k++) {
                long offset = (long) k * CLUSTER + 2 * BLOCK;
                assertEquals(BLOCK, d.write(offset, pattern(k)));
                byte[] expected = new byte[CLUSTER];
                System.arraycopy(pattern(k), 0, expected, 2 * BLOCK, BLOCK);
                assertArrayEquals(expected, d.read((long) k * CLUSTER, CLUSTER),
                        "cluster " + k + ": the stale bytes of its new host cluster must not show");
            }
            assertEquals(0, d.flush());
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
    }
}
