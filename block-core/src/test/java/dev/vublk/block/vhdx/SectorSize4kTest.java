package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vublk.block.ImageOptions;
import dev.vublk.block.WorkerDriver;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** 4096-byte logical sectors (qemu 7.2 cannot open them): writes, reopen, bitmap math, alignment. */
class SectorSize4kTest {
    @TempDir
    Path dir;

    @Test
    void dynamicAndDifferencingWith4kSectors() throws Exception {
        Path base = dir.resolve("base.vhdx"), child = dir.resolve("child.vhdx");
        long size = 24L << 20;
        VhdxCreator.create(base).size(size).blockSize(1 << 20).logicalSectorSize(4096).write();
        byte[] model = new byte[(int) size];
        try (VhdxImage img = VhdxImage.open(base, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(img)) {
            assertEquals(4096, img.requestAlignment());
            byte[] d = TestImages.random(1, 3 << 20);
            h.write(512 << 10, d);
            System.arraycopy(d, 0, model, 512 << 10, d.length);
            assertThrows(IOException.class, () -> h.write(512, new byte[512]), "unaligned to 4096 must fail");
        }
        VhdxCreator.create(child).parent(base).blockSize(1 << 20).write();
        try (VhdxImage img = VhdxImage.open(child, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(img)) {
            byte[] d = TestImages.random(2, 8192);
            h.write((1 << 20) + 4096, d);
            System.arraycopy(d, 0, model, (1 << 20) + 4096, d.length);
            TestImages.assertContent(h, model);
        }
        try (VhdxImage img = VhdxImage.open(child, ImageOptions.defaults().withReadOnly(true)); WorkerDriver h = new WorkerDriver(img)) {
            TestImages.assertContent(h, model);
        }
    }
}
