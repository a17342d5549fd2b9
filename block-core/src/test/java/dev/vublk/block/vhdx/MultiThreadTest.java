package dev.vublk.block.vhdx;

import dev.vublk.block.ImageOptions;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Several queue threads, each with its own ring and worker, allocating the same blocks concurrently. */
class MultiThreadTest {
    static final int SLOT = 32 << 10, SLOTS = 1024; // 32 MiB over 1 MiB blocks

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void concurrentAllocatingWrites(int threads) throws Exception {
        Path img = dir.resolve("mt.vhdx");
        VhdxCreator.create(img).size((long) SLOT * SLOTS).blockSize(1 << 20).write();
        byte[] model = new byte[SLOT * SLOTS];
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults())) {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int me = t;
                done.add(pool.submit(() -> {
                    List<Integer> mine = new ArrayList<>();
                    for (int s = me; s < SLOTS; s += threads) {
                        mine.add(s);
                    }
                    Collections.shuffle(mine, new java.util.Random(me));
                    try (WorkerDriver h = new WorkerDriver(image)) {
                        for (int s : mine) {
                            h.write((long) s * SLOT, TestImages.random(s, SLOT));
                        }
                        h.flush();
                        for (int s : mine) {
                            org.junit.jupiter.api.Assertions.assertArrayEquals(TestImages.random(s, SLOT), h.read((long) s * SLOT, SLOT));
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
            pool.shutdown();
            for (int s = 0; s < SLOTS; s++) {
                System.arraycopy(TestImages.random(s, SLOT), 0, model, s * SLOT, SLOT);
            }
            try (WorkerDriver h = new WorkerDriver(image)) {
                TestImages.assertContent(h, model);
            }
        }
        Path raw = dir.resolve("mt.raw");
        Files.write(raw, model);
        QemuTools.runOk("qemu-img", "check", "-f", "vhdx", img.toString());
        QemuTools.runOk("qemu-img", "compare", "-f", "vhdx", "-F", "raw", img.toString(), raw.toString());
    }
}
