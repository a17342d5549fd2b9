package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Images made and filled by qemu-img/qemu-io read bit-exact; images the engine writes pass qemu-img check/compare. */
class QemuInteropTest {
    static final long SIZE = 40L << 20;

    @TempDir
    Path dir;

    /**
     * qemu-img 7.2 has no logical_sector_size option and refuses 4096-byte logical sectors
     * (ENOTSUP), so qemu interop is tested with 512; 4096 is covered by {@link SectorSize4kTest}.
     */
    static void createForQemu(Path img, String subformat, String blockSize, int sector) throws Exception {
        if (sector == 512) {
            QemuTools.runOk("qemu-img", "create", "-q", "-f", "vhdx", "-o",
                    "subformat=" + subformat + ",block_size=" + blockSize, img.toString(), "" + SIZE);
        } else {
            VhdxCreator c = VhdxCreator.create(img).size(SIZE).logicalSectorSize(sector)
                    .blockSize(Integer.parseInt(blockSize.replace("M", "")) << 20);
            if (subformat.equals("fixed")) {
                c.fixed();
            }
            c.write();
        }
    }

    @ParameterizedTest
    @CsvSource({"dynamic,1M,512", "dynamic,8M,512", "dynamic,32M,512", "fixed,1M,512", "fixed,4M,512", "dynamic,2M,512"})
    void readsQemuImagesExactly(String subformat, String blockSize, int sector) throws Exception {
        Path img = dir.resolve("q.vhdx");
        createForQemu(img, subformat, blockSize, sector);
        String[][] writes = {{"0x11", "0", "64k"}, {"0x22", "1044480", "8192"}, {"0x33", "5M", "3M"},
                {"0x44", "" + (SIZE - 4096), "4096"}, {"0x55", "17M", "4096"}};
        for (String[] w : writes) {
            QemuTools.runOk("qemu-io", "-f", "vhdx", "-c", "write -P " + w[0] + " " + w[1] + " " + w[2], img.toString());
        }
        Path raw = dir.resolve("q.raw");
        QemuTools.runOk("qemu-img", "convert", "-f", "vhdx", "-O", "raw", img.toString(), raw.toString());
        byte[] expected = Files.readAllBytes(raw);
        try (BlockImage image = Images.open(img, null, ImageOptions.defaults().withReadOnly(true));
             WorkerDriver h = new WorkerDriver(image)) {
            assertEquals(ImageFormat.VHDX, image.format());
            assertEquals(SIZE, image.size());
            assertEquals(sector, image.requestAlignment());
            for (long off = 0; off < SIZE; off += 4L << 20) {
                int len = (int) Math.min(4L << 20, SIZE - off);
                assertArrayEquals(Arrays.copyOfRange(expected, (int) off, (int) off + len), h.read(off, len), "at " + off);
            }
            // A read crossing several blocks in one request.
            assertArrayEquals(Arrays.copyOfRange(expected, 1 << 20, 9 << 20), h.read(1 << 20, 8 << 20));
        }
    }

    @ParameterizedTest
    @CsvSource({"qemu,dynamic,1M,512", "qemu,fixed,1M,512", "qemu,dynamic,4M,512", "own,dynamic,1M,512", "own,fixed,2M,512", "own,dynamic,8M,512"})
    void engineWritesPassQemuCheckAndCompare(String maker, String subformat, String blockSize, int sector) throws Exception {
        Path img = dir.resolve("w.vhdx");
        int block = Integer.parseInt(blockSize.replace("M", "")) << 20;
        if (maker.equals("qemu")) {
            createForQemu(img, subformat, blockSize, sector);
        } else {
            VhdxCreator c = VhdxCreator.create(img).size(SIZE).blockSize(block).logicalSectorSize(sector);
            if (subformat.equals("fixed")) {
                c.fixed();
            }
            c.write();
            QemuTools.runOk("qemu-img", "check", "-f", "vhdx", img.toString());
        }
        byte[] model = new byte[(int) SIZE];
        Random rnd = new Random(42);
        try (BlockImage image = Images.open(img, ImageFormat.VHDX, ImageOptions.defaults());
             WorkerDriver h = new WorkerDriver(image)) {
            for (int i = 0; i < 40; i++) {
                int len = (1 + rnd.nextInt(96)) * 4096;
                long off = (long) rnd.nextInt((int) ((SIZE - len) / 4096)) * 4096;
                byte[] data = new byte[len];
                rnd.nextBytes(data);
                h.write(off, data);
                System.arraycopy(data, 0, model, (int) off, len);
                if (i % 10 == 9) {
                    h.flush();
                }
            }
            for (long off = 0; off < SIZE; off += 8L << 20) {
                int len = (int) Math.min(8L << 20, SIZE - off);
                assertArrayEquals(Arrays.copyOfRange(model, (int) off, (int) off + len), h.read(off, len), "at " + off);
            }
        }
        Path raw = dir.resolve("w.raw");
        Files.write(raw, model);
        QemuTools.runOk("qemu-img", "check", "-f", "vhdx", img.toString());
        QemuTools.runOk("qemu-img", "compare", "-f", "vhdx", "-F", "raw", img.toString(), raw.toString());
    }
}
