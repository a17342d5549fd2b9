package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageException;
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

/** {@link BlockImage#resize} of dynamic VHDX images, checked by qemu-img (info, check, compare). */
class ResizeTest {
    static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private long qemuVirtualSize(Path img) throws Exception {
        String info = QemuTools.runOk("qemu-img", "info", "--output=json", "-f", "vhdx", img.toString());
        String key = "\"virtual-size\": ";
        int at = info.indexOf(key) + key.length();
        return Long.parseLong(info.substring(at, info.indexOf(',', at)).strip());
    }

    private void qemuAgrees(Path img, byte[] model) throws Exception {
        Path raw = dir.resolve("model.raw");
        Files.write(raw, model);
        assertEquals(model.length, qemuVirtualSize(img));
        QemuTools.runOk("qemu-img", "check", "-f", "vhdx", img.toString());
        QemuTools.runOk("qemu-img", "compare", "-f", "vhdx", "-F", "raw", img.toString(), raw.toString());
    }

    @Test
    void growAndShrinkAQemuImageInsideItsBatRegion() throws Exception {
        Path img = dir.resolve("r.vhdx");
        QemuTools.runOk("qemu-img", "create", "-q", "-f", "vhdx", "-o", "block_size=1M", img.toString(), "" + 16 * MIB);
        byte[] model = TestImages.random(1, 16 * MIB);
        try (BlockImage image = Images.open(img, ImageFormat.VHDX, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            h.write(0, model);
            image.resize(40L * MIB + 512 * 3); // not a block multiple
            assertEquals(40L * MIB + 1536, image.size());
            model = Arrays.copyOf(model, 40 * MIB + 1536);
            byte[] tail = TestImages.random(2, 2 * MIB + 1536);
            h.write(38L * MIB, tail);
            System.arraycopy(tail, 0, model, 38 * MIB, tail.length);
            TestImages.assertContent(h, model);
        }
        qemuAgrees(img, model);

        try (BlockImage image = Images.open(img, ImageFormat.VHDX, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            image.resize(24L * MIB + 4096 * 5); // cuts into an allocated block
            model = Arrays.copyOf(model, 24 * MIB + 4096 * 5);
            TestImages.assertContent(h, model);
            assertTrue(h.tryWrite(25L * MIB, new byte[4096]) < 0, "a write past the new end is refused");
        }
        qemuAgrees(img, model);

        // Growing again must not bring back what lay past the shrunk end.
        try (BlockImage image = Images.open(img, ImageFormat.VHDX, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            image.resize(32L * MIB);
            model = Arrays.copyOf(model, 32 * MIB);
            TestImages.assertContent(h, model);
        }
        qemuAgrees(img, model);
    }

    @Test
    void growBeyondTheBatRegionMovesTheBat() throws Exception {
        Path img = dir.resolve("big.vhdx");
        VhdxCreator.create(img).size(16L * MIB).blockSize(MIB).write(); // a 1 MiB BAT region: 131072 entries
        long grown = 200L << 30;                                          // 200 Ki blocks: needs a bigger BAT
        byte[] head = TestImages.random(3, 3 * MIB);
        byte[] far = TestImages.random(4, 2 * MIB);
        long batBefore;
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            h.write(0, head);
            batBefore = batOffset(img);
            image.resize(grown);
            h.write(grown - 2 * MIB, far);
            assertArrayEquals(head, h.read(0, head.length));
            assertArrayEquals(far, h.read(grown - 2 * MIB, far.length));
        }
        assertNotEquals(batBefore, batOffset(img), "the BAT moved to a bigger region");
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults().withReadOnly(true)); WorkerDriver h = new WorkerDriver(image)) {
            assertEquals(grown, image.size());
            assertArrayEquals(head, h.read(0, head.length));
            assertArrayEquals(new byte[MIB], h.read(100L << 30, MIB));
            assertArrayEquals(far, h.read(grown - 2 * MIB, far.length));
        }
        assertEquals(grown, qemuVirtualSize(img));
        QemuTools.runOk("qemu-img", "check", "-f", "vhdx", img.toString());
        String far2 = QemuTools.runOk("qemu-io", "-f", "vhdx", "-c", "read -P 0 " + (100L << 30) + " 1M",
                "-c", "read -v " + (grown - 2 * MIB) + " 16", img.toString());
        assertTrue(!far2.contains("failed") && !far2.contains("Pattern verification"), far2);
        Path farRaw = dir.resolve("far.raw");
        QemuTools.runOk("qemu-img", "dd", "-f", "vhdx", "-O", "raw", "if=" + img, "of=" + farRaw, "bs=1M",
                "skip=" + (grown / MIB - 2), "count=" + grown / MIB); // qemu-img dd counts from the start, skip included
        assertArrayEquals(far, Files.readAllBytes(farRaw), "qemu reads the data written past the old BAT's reach");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            assertTrue(f.length() < 64L * MIB, "the grown image stays sparse: " + f.length());
        }
    }

    @Test
    void differencingDiskGrowsPastItsParent() throws Exception {
        Path base = dir.resolve("base.vhdx"), child = dir.resolve("child.vhdx");
        VhdxCreator.create(base).size(8L * MIB).blockSize(MIB).write();
        byte[] model = TestImages.random(7, 8 * MIB);
        try (VhdxImage image = VhdxImage.open(base, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            h.write(0, model);
        }
        VhdxCreator.create(child).parent(base).blockSize(MIB).write();
        model = Arrays.copyOf(model, 20 * MIB);
        try (VhdxImage image = VhdxImage.open(child, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            image.resize(20L * MIB);
            byte[] across = TestImages.random(8, 2 * MIB);
            h.write(7L * MIB + 4096, across); // half over the parent's data, half past its end
            System.arraycopy(across, 0, model, 7 * MIB + 4096, across.length);
            TestImages.assertContent(h, model);
        }
        try (VhdxImage image = VhdxImage.open(child, ImageOptions.defaults().withReadOnly(true)); WorkerDriver h = new WorkerDriver(image)) {
            assertEquals(20L * MIB, image.size());
            TestImages.assertContent(h, model);
        }
    }

    @Test
    void refusedResizes() throws Exception {
        Path fixed = dir.resolve("fixed.vhdx");
        VhdxCreator.create(fixed).size(4L * MIB).blockSize(MIB).fixed().write();
        try (VhdxImage image = VhdxImage.open(fixed, ImageOptions.defaults())) {
            assertThrows(UnsupportedOperationException.class, () -> image.resize(8L * MIB));
        }
        Path dyn = dir.resolve("dyn.vhdx");
        VhdxCreator.create(dyn).size(4L * MIB).blockSize(MIB).write();
        try (VhdxImage image = VhdxImage.open(dyn, ImageOptions.defaults())) {
            ImageException odd = assertThrows(ImageException.class, () -> image.resize(8L * MIB + 100));
            assertTrue(odd.getMessage().contains("multiple of 512"), odd.getMessage());
        }
        try (VhdxImage image = VhdxImage.open(dyn, ImageOptions.defaults().withReadOnly(true))) {
            assertThrows(ImageException.class, () -> image.resize(8L * MIB));
            assertEquals(4L * MIB, image.size());
        }
        QemuTools.runOk("qemu-img", "check", "-f", "vhdx", dyn.toString());
    }

    private static long batOffset(Path img) throws Exception {
        try (dev.vublk.uring.NativeFile f = dev.vublk.uring.NativeFile.open(img, false, false)) {
            return RegionTable.parseOrNull(f.readBytes(Layout.REGION_TABLE1_OFFSET, Layout.REGION_TABLE_SIZE))
                    .find(KnownGuids.BAT_REGION, img).fileOffset();
        }
    }
}
