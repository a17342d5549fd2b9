package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageOptions;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.block.WriteBackStep;
import dev.vublk.block.storage.FileStorage;
import dev.vublk.uring.Errno;
import dev.vublk.uring.NativeException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A metadata write-back that finds the disk full: the image goes on taking writes, and the next
 * write-back writes everything the failed one took (tables, the L1 table, frees), so the image
 * ends clean, without leaks. Any other failure still stops the image from taking changes.
 */
class NoSpaceWriteBackTest {
    private static final int CLUSTER = 64 << 10;

    @TempDir
    Path dir;

    @Test
    void aWriteBackWithoutSpaceIsWrittenAgainByTheNext() throws Exception {
        Path img = dir.resolve("disk.qcow2");
        QemuTools.create(img, "qcow2", null, 2L << 30);
        byte[] a = fill(0x11);
        byte[] b = fill(0x22);
        try (QcowImage image = QcowImage.open(img, ImageOptions.defaults()); WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(CLUSTER, d.write(0, a));
            assertEquals(CLUSTER, d.write(8L * CLUSTER, a));
            d.flush();
            d.discard(8L * CLUSTER, CLUSTER); // a free the next write-back applies
            assertEquals(CLUSTER, d.write(9000L * CLUSTER, b)); // a new L2 table: the L1 table changes

            QcowMetadata meta = image.metadata();
            WriteBackStep step = new WriteBackStep();
            meta.beginWriteBack(step);
            assertEquals(WriteBackStep.RUN, step.kind);
            MetadataFlusher.WriteBack wb = (MetadataFlusher.WriteBack) step.writes;
            writeStage(wb, 0); // the refcount blocks land, the tables after them find no space
            for (Runnable w : meta.writtenBack(wb, new NativeException("pwrite", Errno.ENOSPC, img.toString()))) {
                w.run();
            }

            assertEquals(CLUSTER, d.write(9001L * CLUSTER, b), "the image takes writes again (into the same new L2 table)");
            d.flush();
        }
        QemuTools.assertCheckClean(img, "qcow2", false); // the free was applied: no leak
        Path raw = dir.resolve("disk.raw");
        QemuTools.toRaw(img, raw);
        assertArrayEquals(a, slice(raw, 0));
        assertArrayEquals(new byte[CLUSTER], slice(raw, 8), "discarded");
        assertArrayEquals(b, slice(raw, 9000), "its L2 table and the L1 entry were written by the next write-back");
        assertArrayEquals(b, slice(raw, 9001));
    }

    @Test
    void anyOtherWriteBackFailureStopsChanges() throws Exception {
        Path img = dir.resolve("eio.qcow2");
        QemuTools.create(img, "qcow2", null, 64L << 20);
        QcowImage image = QcowImage.open(img, ImageOptions.defaults());
        try (WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(CLUSTER, d.write(0, fill(1)));
            QcowMetadata meta = image.metadata();
            WriteBackStep step = new WriteBackStep();
            meta.beginWriteBack(step);
            for (Runnable w : meta.writtenBack((MetadataFlusher.WriteBack) step.writes,
                    new NativeException("pwrite", Errno.EIO, img.toString()))) {
                w.run();
            }
            assertEquals(-Errno.EIO, d.tryWrite(CLUSTER, fill(2)), "a failing disk: the image takes no further change");
        }
        IOException closing = assertThrows(IOException.class, image::close);
        assertTrue(closing.getMessage().contains("image is now read-only"), closing.getMessage());
    }

    private static void writeStage(MetadataFlusher.WriteBack wb, int s) throws Exception {
        FileStorage storage = (FileStorage) wb.storage(s);
        for (int w = 0; w < wb.writes(s); w++) {
            storage.file().write(wb.data(s, w), wb.offset(s, w));
        }
        storage.file().fdatasync();
    }

    private static byte[] slice(Path raw, long cluster) throws Exception {
        try (var ch = java.nio.channels.FileChannel.open(raw)) {
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(CLUSTER);
            ch.read(buf, cluster * CLUSTER);
            return buf.array();
        }
    }

    private static byte[] fill(int v) {
        byte[] b = new byte[CLUSTER];
        Arrays.fill(b, (byte) v);
        return b;
    }
}
