package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A guest that never sends FLUSH: dirty metadata past half the cache budget is written back on
 * its own, in the flusher's order, so the cache stays bounded and a kill at any point leaves at
 * most leaks, never corruption.
 */
class QcowWriteBackTest {
    /** 512-byte clusters: one L2 table maps 32 KiB, so writes spread over many tables. */
    private static final long SIZE = 64L << 20;
    /** 16 tables per cache: write-back every 8 dirty tables. */
    private static final long CACHE_BYTES = 16 * 512;
    /** Writes done before the kill: about 8 MiB spread over some 900 L2 tables. */
    private static final int WRITES_BEFORE_KILL = 1024;

    @TempDir
    Path dir;

    @Test
    void writesWithoutFlushPastTheCacheBudgetReachTheDiskAndAKillLeavesOnlyLeaks() throws Exception {
        Path img = dir.resolve("wb.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=512", SIZE);
        int blocks = (int) (SIZE / CrashWriter.BLOCK);
        for (long seed = 1; seed <= 2; seed++) {
            int written = killAfterWrites(img, seed, blocks);
            List<Integer> order = CrashWriter.order(seed, blocks);
            int visible = 0;
            try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults().withReadOnly(true));
                 WorkerDriver d = new WorkerDriver(image)) {
                for (int i = 0; i < written; i++) {
                    int b = order.get(i);
                    if (Arrays.equals(CrashWriter.content(seed, b), d.read((long) b * CrashWriter.BLOCK, CrashWriter.BLOCK))) {
                        visible++;
                    }
                }
            }
            // Only the tables still dirty at the kill (at most half the cache, 8 tables) may be lost.
            assertTrue(visible >= written - 64, "run " + seed + ": only " + visible + " of " + written
                    + " unflushed writes reached the image: dirty metadata was held back");
            QemuTools.assertCheckClean(img, "qcow2", true);
        }
        // Still a usable image: a read-write open after the kills leaves it clean.
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            assertTrue(d.write(0, CrashWriter.content(7, 0)) >= 0);
        }
        QemuTools.assertCheckClean(img, "qcow2", true);
    }

    /** Runs a never-flushing writer until it reported {@link #WRITES_BEFORE_KILL} writes, then kills it. */
    private static int killAfterWrites(Path img, long seed, int blocks) throws Exception {
        AtomicInteger written = new AtomicInteger();
        CountDownLatch reached = new CountDownLatch(1);
        CrashWriter.Child child = CrashWriter.start(img, (kind, n) -> {
            written.set(n);
            if (n >= WRITES_BEFORE_KILL) {
                reached.countDown();
            }
        }, Long.toString(seed), Integer.toString(blocks), "0", Long.toString(CACHE_BYTES));
        boolean got = reached.await(120, TimeUnit.SECONDS);
        child.kill();
        assertTrue(got, "writer reached only " + written.get() + " writes");
        return written.get();
    }
}
