package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageException;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.WorkerDriver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Chains made by VhdxCreator: data resolves sector by sector; loops, wrong linkage and depth are refused. */
class DifferencingChainTest {
    static final long SIZE = 20L << 20;

    @TempDir
    Path dir;

    private void write(Path img, byte[] model, long seed, int count) throws Exception {
        Random rnd = new Random(seed);
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            for (int i = 0; i < count; i++) {
                int len = (1 + rnd.nextInt(64)) * 512;
                long off = (long) rnd.nextInt((int) ((SIZE - len) / 512)) * 512;
                byte[] d = TestImages.random(seed * 1000 + i, len);
                h.write(off, d);
                System.arraycopy(d, 0, model, (int) off, len);
            }
            TestImages.assertContent(h, model);
        }
    }

    @Test
    void depthThreeChainResolvesExactly() throws Exception {
        Path base = dir.resolve("base.vhdx"), mid = dir.resolve("sub/mid.vhdx"), top = dir.resolve("top.vhdx");
        Files.createDirectories(mid.getParent());
        byte[] model = new byte[(int) SIZE];
        VhdxCreator.create(base).size(SIZE).blockSize(1 << 20).write();
        write(base, model, 1, 30);
        VhdxCreator.create(mid).parent(base).blockSize(1 << 20).write();
        write(mid, model, 2, 30);
        VhdxCreator.create(top).parent(mid).blockSize(2 << 20).write();
        write(top, model, 3, 30);
        try (VhdxImage image = VhdxImage.open(top, ImageOptions.defaults().withReadOnly(true)); WorkerDriver h = new WorkerDriver(image)) {
            TestImages.assertContent(h, model);
            assertTrue(image.parent() != null && image.parent().parent() != null);
        }
        byte[] after = model.clone();
        // A full-block write makes a block fully present; discarding it leaves zeros, not the
        // parent's older data (discard may show zeros or what the guest last wrote, nothing else).
        try (VhdxImage image = VhdxImage.open(top, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            byte[] block = TestImages.random(9, 2 << 20);
            h.write(4 << 20, block);
            System.arraycopy(block, 0, model, 4 << 20, block.length);
            TestImages.assertContent(h, model);
            h.discard(4 << 20, 2 << 20);
            byte[] partial = TestImages.random(10, 4096);
            h.write(8 << 20, partial);
            h.discard(8 << 20, 4096);
            h.writeZeroes(12 << 20, 8192, false);
            System.arraycopy(new byte[2 << 20], 0, after, 4 << 20, 2 << 20);
            System.arraycopy(new byte[4096], 0, after, 8 << 20, 4096);
            System.arraycopy(new byte[8192], 0, after, 12 << 20, 8192);
            TestImages.assertContent(h, after);
        }
        try (VhdxImage image = VhdxImage.open(top, ImageOptions.defaults().withReadOnly(true)); WorkerDriver h = new WorkerDriver(image)) {
            TestImages.assertContent(h, after);
        }
    }

    @Test
    void parentModifiedAfterChildCreationIsRefused() throws Exception {
        Path base = dir.resolve("base.vhdx"), child = dir.resolve("child.vhdx");
        VhdxCreator.create(base).size(SIZE).blockSize(1 << 20).write();
        VhdxCreator.create(child).parent(base).write();
        write(base, new byte[(int) SIZE], 5, 1); // a write changes the parent's DataWriteGuid
        ImageException e = assertThrows(ImageException.class, () -> VhdxImage.open(child, ImageOptions.defaults()));
        assertTrue(e.getMessage().contains("DataWriteGuid"), e.getMessage());
    }

    @Test
    void loopInTheChainIsRefusedAtOnce() throws Exception {
        Path a = dir.resolve("a.vhdx"), b = dir.resolve("b.vhdx"), x = dir.resolve("x.vhdx");
        VhdxCreator.create(a).size(SIZE).write();
        VhdxCreator.create(b).parent(a).write();
        VhdxCreator.create(x).parent(b).write(); // x -> b; then x takes a's place: b -> a(=x) -> b
        Files.move(x, a, StandardCopyOption.REPLACE_EXISTING);
        ImageException e = assertThrows(ImageException.class, () -> VhdxImage.open(b, ImageOptions.defaults()));
        assertTrue(e.getMessage().contains("loops"), e.getMessage());
    }

    @Test
    void chainDeeperThanAllowedIsRefused() throws Exception {
        Path base = dir.resolve("base.vhdx"), mid = dir.resolve("mid.vhdx"), top = dir.resolve("top.vhdx");
        VhdxCreator.create(base).size(SIZE).write();
        VhdxCreator.create(mid).parent(base).write();
        VhdxCreator.create(top).parent(mid).write();
        ImageOptions shallow = new ImageOptions(true, false, false, 0, 1);
        ImageException e = assertThrows(ImageException.class, () -> VhdxImage.open(top, shallow));
        assertTrue(e.getMessage().contains("deeper"), e.getMessage());
        try (VhdxImage ok = VhdxImage.open(top, new ImageOptions(true, false, false, 0, 2))) {
            assertTrue(ok.parent().parent() != null);
        }
    }
}
