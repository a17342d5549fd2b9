package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Several queue threads, each with its own ring and worker, write interleaved 4 KiB blocks so
 * that neighbouring blocks of one cluster belong to different threads: concurrent allocations of
 * the same cluster must end with one allocation and every write applied.
 */
class QcowConcurrencyTest {
    private static final int BLOCK = 4096;

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0} threads, {1}")
    @CsvSource({"2, cluster_size=65536", "4, cluster_size=65536", "4, extended_l2=on", "4, cluster_size=4096"})
    void concurrentAllocatingWritesAndReads(int threads, String options) throws Exception {
        long size = 32L << 20;
        Path img = dir.resolve("mt.qcow2");
        QemuTools.create(img, "qcow2", options, size);
        int blocks = (int) (size / BLOCK);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults())) {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            List<Future<?>> results = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int self = t;
                results.add(pool.submit(() -> {
                    try (WorkerDriver d = new WorkerDriver(image)) {
                        Random rnd = new Random(self);
                        List<Integer> mine = new ArrayList<>();
                        for (int b = self; b < blocks; b += threads) {
                            mine.add(b);
                        }
                        java.util.Collections.shuffle(mine, rnd);
                        int n = 0;
                        for (int b : mine.subList(0, Math.min(mine.size(), 1500))) {
                            assertEquals(BLOCK, d.write((long) b * BLOCK, content(b)));
                            if (++n % 50 == 0) {
                                int check = mine.get(rnd.nextInt(n));
                                assertArrayEquals(content(check), d.read((long) check * BLOCK, BLOCK));
                            }
                            if (n % 400 == 0) {
                                assertEquals(0, d.flush());
                            }
                        }
                    }
                    return null;
                }));
            }
            pool.shutdown();
            for (Future<?> f : results) {
                f.get(120, TimeUnit.SECONDS);
            }
            try (WorkerDriver d = new WorkerDriver(image)) {
                for (int t = 0; t < threads; t++) {
                    Random rnd = new Random(t);
                    List<Integer> mine = new ArrayList<>();
                    for (int b = t; b < blocks; b += threads) {
                        mine.add(b);
                    }
                    java.util.Collections.shuffle(mine, rnd);
                    for (int b : mine.subList(0, Math.min(mine.size(), 1500))) {
                        assertArrayEquals(content(b), d.read((long) b * BLOCK, BLOCK), "block " + b);
                    }
                }
                assertEquals(0, d.flush());
            }
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
    }

    static byte[] content(int block) {
        byte[] b = new byte[BLOCK];
        for (int i = 0; i < BLOCK; i += 8) {
            long v = ((long) block << 20) ^ i;
            for (int k = 0; k < 8; k++) {
                b[i + k] = (byte) (v >>> (8 * k));
            }
        }
        return b;
    }
}
