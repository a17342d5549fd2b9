package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageOptions;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Trim and write-zeroes on a dynamic disk: zeros read back, whole blocks give their space back, qemu agrees. */
class DiscardTest {
    @TempDir
    Path dir;

    @Test
    void discardAndWriteZeroes() throws Exception {
        Path img = dir.resolve("t.vhdx");
        int size = 16 << 20;
        VhdxCreator.create(img).size(size).blockSize(1 << 20).write();
        byte[] model = TestImages.random(3, size);
        long before;
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            h.write(0, model);
            h.flush();
            before = image.metadata().file().allocatedBytes();
            h.discard(2 << 20, 3 << 20);                 // three whole blocks: UNMAPPED, punched
            h.writeZeroes(8 << 20, 1 << 20, true);      // whole block: ZERO
            h.writeZeroes((10 << 20) + 4096, 8192, false); // partial: zeroed in place
            h.discard((12 << 20) + 512, 1024);          // partial discard: zeroed (punched) in place
            for (int[] r : new int[][] {{2 << 20, 3 << 20}, {8 << 20, 1 << 20}, {(10 << 20) + 4096, 8192}, {(12 << 20) + 512, 1024}}) {
                System.arraycopy(new byte[r[1]], 0, model, r[0], r[1]);
            }
            TestImages.assertContent(h, model);
            long after = image.metadata().file().allocatedBytes();
            // 4 MiB punched; the log region (sparse until now) takes a few KiB of it back.
            assertTrue(after <= before - (7L << 19), "space of discarded blocks reclaimed: " + before + " -> " + after);
            h.write(3 << 20, TestImages.random(4, 4096)); // a released block is allocated afresh, rest zeros
            System.arraycopy(TestImages.random(4, 4096), 0, model, 3 << 20, 4096);
            TestImages.assertContent(h, model);
        }
        Path raw = dir.resolve("t.raw");
        Files.write(raw, model);
        QemuTools.runOk("qemu-img", "check", "-f", "vhdx", img.toString());
        QemuTools.runOk("qemu-img", "compare", "-f", "vhdx", "-F", "raw", img.toString(), raw.toString());
    }

    @Test
    void partialWriteZeroesOnBlocksWithoutDataMakesThemExplicitlyZero() throws Exception {
        Path img = dir.resolve("z.vhdx");
        int size = 8 << 20;
        VhdxCreator.create(img).size(size).blockSize(1 << 20).write();
        byte[] model = new byte[size];
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            byte[] data = TestImages.random(5, 1 << 20);
            h.write(2 << 20, data);
            System.arraycopy(data, 0, model, 2 << 20, data.length);
            h.discard(2 << 20, 1 << 20);                        // whole block with data: UNMAPPED
            System.arraycopy(new byte[1 << 20], 0, model, 2 << 20, 1 << 20);
            assertEquals(BatEntry.UNMAPPED, BatEntry.state(image.metadata().payloadEntry(2)));
            h.writeZeroes((1 << 20) + 4096, 8192, false);        // never written: NOT_PRESENT
            h.writeZeroes((2 << 20) + 4096, 8192, false);        // UNMAPPED
            assertEquals(BatEntry.ZERO, BatEntry.state(image.metadata().payloadEntry(1)));
            assertEquals(BatEntry.ZERO, BatEntry.state(image.metadata().payloadEntry(2)));
            h.discard((3 << 20) + 512, 4096);                    // discard without data: nothing to do
            assertEquals(BatEntry.NOT_PRESENT, BatEntry.state(image.metadata().payloadEntry(3)));
            TestImages.assertContent(h, model);
        }
        Path raw = dir.resolve("z.raw");
        Files.write(raw, model);
        QemuTools.runOk("qemu-img", "check", "-f", "vhdx", img.toString());
        QemuTools.runOk("qemu-img", "compare", "-f", "vhdx", "-F", "raw", img.toString(), raw.toString());
    }
}
