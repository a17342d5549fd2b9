package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.block.WriteBackStep;
import dev.vublk.block.storage.FileStorage;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ordering a write-back on the ring adds: its snapshot is written while queues go on, so a
 * table it copied must stay in the cache until the copy is durable. Were it marked clean at the
 * snapshot, a lookup evicting it meanwhile would reload the older table still on disk and lose
 * the allocation the snapshot holds.
 */
class WriteBackInFlightTest {
    /** 512-byte clusters: one L2 table maps 32 KiB. */
    private static final int CLUSTER = 512;
    private static final long TABLE_SPAN = 64 * CLUSTER;
    private static final int TABLES = 48;
    /** 16 tables per cache: the reads below evict every clean table. */
    private static final long CACHE_BYTES = 16 * CLUSTER;

    @TempDir
    Path dir;

    @Test
    void aTableInAWriteBackInFlightIsNeverDroppedForItsOlderCopy() throws Exception {
        Path img = dir.resolve("disk.qcow2");
        byte[] data = fill(0x6d);
        try (QcowImage image = withTables(img); WorkerDriver d = new WorkerDriver(image)) {
            writeOneClusterPerTable(d, data);
            long fresh = 7 * CLUSTER; // a new cluster in table 0: its L2 entry changes
            assertEquals(CLUSTER, d.write(fresh, data));

            QcowMetadata meta = image.metadata();
            WriteBackStep step = new WriteBackStep();
            meta.beginWriteBack(step);
            assertEquals(WriteBackStep.RUN, step.kind, "table 0 is dirty: a write-back starts");
            MetadataFlusher.WriteBack wb = (MetadataFlusher.WriteBack) step.writes;

            for (int t = 1; t < TABLES; t++) {
                d.read(t * TABLE_SPAN, CLUSTER); // every other table is loaded: clean ones are evicted
            }
            assertArrayEquals(data, d.read(fresh, CLUSTER), "the allocation survived the write-back in flight");

            for (int s = 0; s < wb.stages(); s++) { // what the engine does on its ring
                FileStorage storage = (FileStorage) wb.storage(s);
                for (int w = 0; w < wb.writes(s); w++) {
                    storage.file().write(wb.data(s, w), wb.offset(s, w));
                }
                storage.file().fdatasync();
            }
            for (Runnable waiter : meta.writtenBack(wb, null)) {
                waiter.run();
            }
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        Path raw = dir.resolve("disk.raw");
        QemuTools.toRaw(img, raw);
        byte[] all = Files.readAllBytes(raw);
        assertArrayEquals(data, Arrays.copyOfRange(all, 7 * CLUSTER, 8 * CLUSTER), "the allocation reached the image");
        assertArrayEquals(data, Arrays.copyOfRange(all, (int) (5 * TABLE_SPAN), (int) (5 * TABLE_SPAN) + CLUSTER));
    }

    /**
     * A table read on a queue's ring while a write-back finished may hold bytes older than what
     * that write-back put on disk: it is not kept, and the lookup loads the table again.
     */
    @Test
    void aTableFetchedAcrossAWriteBackIsNotKept() throws Exception {
        Path img = dir.resolve("fetch.qcow2");
        byte[] data = fill(0x42);
        try (QcowImage image = withTables(img); WorkerDriver d = new WorkerDriver(image)) {
            writeOneClusterPerTable(d, data);
            QcowMetadata meta = image.metadata();
            long table = meta.l2ToFetch(0);
            for (int t = 1; t < TABLES && table < 0; t++) {
                d.read(t * TABLE_SPAN, CLUSTER); // push table 0 out of the cache
                table = meta.l2ToFetch(0);
            }
            assertTrue(table > 0, "table 0 left the cache");
            long token = meta.fetchToken(0);
            assertEquals(CLUSTER, d.write(3 * CLUSTER, data)); // table 0 back, changed, then written back
            assertEquals(0, d.flush());
            for (int t = 1; t < TABLES; t++) {
                d.read(t * TABLE_SPAN, CLUSTER);
            }
            byte[] stale = new byte[CLUSTER]; // what a fetch from before that write-back could hold
            meta.fetched(table, token, MemorySegment.ofArray(stale));
            assertArrayEquals(data, d.read(0, CLUSTER), "the older fetch was not kept");
            assertArrayEquals(data, d.read(3 * CLUSTER, CLUSTER));
        }
    }

    private static byte[] fill(int value) {
        byte[] data = new byte[CLUSTER];
        Arrays.fill(data, (byte) value);
        return data;
    }

    /** A fresh image of {@link #TABLES} L2 tables, opened with a cache of 16. */
    private static QcowImage withTables(Path img) throws Exception {
        QemuTools.create(img, "qcow2", "cluster_size=" + CLUSTER, TABLES * TABLE_SPAN);
        ImageOptions options = new ImageOptions(false, false, false, CACHE_BYTES, ImageOptions.DEFAULT_MAX_CHAIN_DEPTH);
        return (QcowImage) Images.open(img, ImageFormat.QCOW2, options);
    }

    /** Gives every L2 table one written cluster and makes it all durable. */
    private static void writeOneClusterPerTable(WorkerDriver d, byte[] data) throws Exception {
        for (int t = 0; t < TABLES; t++) {
            assertEquals(CLUSTER, d.write(t * TABLE_SPAN, data), "one cluster per L2 table");
        }
        assertEquals(0, d.flush());
    }
}
