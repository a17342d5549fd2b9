package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockImage;
import dev.vublk.block.CrashLoop;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills a writing child JVM at random points, repeatedly on the same image: after each kill
 * qemu-img check must find no corruption (leaks are allowed) and every write acknowledged before
 * the last completed flush must read back. The rounds count comes from {@link CrashLoop}
 * (scripts/crash-loops runs 100); corruptions and lost writes are counted over all of them.
 */
class QcowCrashTest {
    private static final long SIZE = 64L << 20;

    @TempDir
    Path dir;

    @Test
    void killedWritersNeverCorruptTheImageNorLoseFlushedData() throws Exception {
        Path img = dir.resolve("crash.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=16384", SIZE);
        int blocks = (int) (SIZE / CrashWriter.BLOCK);
        Random rnd = new Random(42);
        CrashLoop loop = CrashLoop.start("QcowCrashTest", "qcow2", 12);
        int verified = 0;
        for (long seed = 1; seed <= loop.rounds(); seed++) {
            AtomicInteger flushed = new AtomicInteger();
            CrashWriter.Child child = CrashWriter.start(img, (kind, n) -> flushed.set(n),
                    Long.toString(seed), Integer.toString(blocks));
            // Wait for the child to get going, then kill it somewhere in its work.
            long start = System.nanoTime();
            while (flushed.get() == 0 && child.process().isAlive() && System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10)) {
                Thread.sleep(5);
            }
            Thread.sleep(rnd.nextInt(400));
            child.kill();
            loop.roundDone();
            if (!loop.check((int) seed, img)) {
                // Later rounds on a corrupt image would only report the same damage again.
                Files.delete(img);
                QemuTools.create(img, "qcow2", "cluster_size=16384", SIZE);
                continue;
            }
            int durable = flushed.get();
            List<Integer> order = CrashWriter.order(seed, blocks);
            try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults().withReadOnly(true));
                 WorkerDriver d = new WorkerDriver(image)) {
                for (int i = 0; i < durable; i++) {
                    int b = order.get(i);
                    if (!Arrays.equals(CrashWriter.content(seed, b), d.read((long) b * CrashWriter.BLOCK, CrashWriter.BLOCK))) {
                        loop.lostFlushedWrite((int) seed, "write " + i + " (block " + b + ") flushed before the kill is missing");
                    }
                    verified++;
                }
            }
        }
        loop.finish();
        assertTrue(verified > 0, "no flushed write was verified");
        // A clean read-write open after all the crashes still works and leaves a clean image.
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            byte[] data = CrashWriter.content(999, 0);
            d.write(0, data);
            d.flush();
            assertArrayEquals(data, d.read(0, data.length));
        }
        QemuTools.assertCheckClean(img, "qcow2", true);
    }
}
