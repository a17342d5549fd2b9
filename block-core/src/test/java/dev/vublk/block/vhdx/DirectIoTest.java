package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockWorker;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code direct=true}: data goes through an O_DIRECT descriptor, the image states the alignment
 * it found, and guest buffers that miss it (odd addresses, odd piece lengths) are bounced, in
 * reads and writes, across block boundaries and through a differencing chain.
 */
class DirectIoTest {
    static final int MIB = 1 << 20, SIZE = 16 * MIB;
    static final ImageOptions DIRECT = ImageOptions.defaults().withDirect(true);

    @TempDir
    Path dir;

    /** One request at a time with buffers placed {@code skew} bytes past an aligned address, in uneven pieces. */
    static final class SkewedDriver implements AutoCloseable {
        final Arena arena = Arena.ofConfined();
        final IoUring ring;
        final BlockWorker worker;
        int result;
        boolean finished;

        SkewedDriver(VhdxImage image) throws Exception {
            ring = new IoUring(64);
            worker = image.newWorker(ring);
        }

        private IoVecArray buffers(MemorySegment seg) {
            IoVecArray iov = new IoVecArray(arena, 8);
            long len = seg.byteSize();
            long first = Math.min(len, 1000); // not a sector multiple: the pieces after it are misaligned too
            iov.add(seg.address(), first);
            if (len > first) {
                long second = (len - first) / 2;
                iov.add(seg.address() + first, second);
                iov.add(seg.address() + first + second, len - first - second);
            }
            return iov;
        }

        private MemorySegment place(int length, int skew) {
            return arena.allocate(length + 4096L, 4096).asSlice(skew, length);
        }

        private int await() throws Exception {
            while (!finished) {
                ring.submitAndWait();
            }
            finished = false;
            return result;
        }

        void write(long offset, byte[] data, int skew) throws Exception {
            MemorySegment seg = place(data.length, skew);
            MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_BYTE, 0, data.length);
            worker.write(offset, buffers(seg), (t, r) -> { result = r; finished = true; }, 1);
            assertEquals(0, await(), "write at " + offset);
        }

        byte[] read(long offset, int length, int skew) throws Exception {
            MemorySegment seg = place(length, skew);
            seg.fill((byte) 0x5a);
            worker.read(offset, buffers(seg), (t, r) -> { result = r; finished = true; }, 2);
            assertEquals(0, await(), "read at " + offset);
            return seg.toArray(ValueLayout.JAVA_BYTE);
        }

        @Override
        public void close() {
            worker.close();
            ring.close();
            arena.close();
        }
    }

    @Test
    void unalignedGuestBuffersAreBouncedAndDataIsExact() throws Exception {
        Path img = dir.resolve("d.vhdx");
        VhdxCreator.create(img).size(SIZE).blockSize(MIB).write();
        byte[] model = new byte[SIZE];
        try (VhdxImage image = VhdxImage.open(img, DIRECT)) {
            assertTrue(image.dataFile().direct(), "data descriptor opened with O_DIRECT");
            int align = image.memoryAlignment();
            assertTrue(align >= 512 && align <= 4096 && Integer.bitCount(align) == 1, "alignment " + align);
            assertTrue(image.requestAlignment() >= align);
            try (SkewedDriver d = new SkewedDriver(image); WorkerDriver aligned = new WorkerDriver(image)) {
                int[][] writes = {{0, 64 << 10, 3}, {MIB - 8192, 3 * 8192, 1}, {5 * MIB + 4096, 2 * MIB, 0}, {9 * MIB, 4096, 511}};
                for (int[] w : writes) {
                    byte[] data = TestImages.random(w[0], w[1]);
                    d.write(w[0], data, w[2]);
                    System.arraycopy(data, 0, model, w[0], data.length);
                }
                byte[] straight = TestImages.random(99, 128 << 10);
                aligned.write(12 * MIB, straight); // aligned buffers go straight to the kernel
                System.arraycopy(straight, 0, model, 12 * MIB, straight.length);
                for (int skew : new int[] {0, 7, 512}) {
                    for (int off = 0; off < SIZE; off += 4 * MIB) {
                        assertArrayEquals(java.util.Arrays.copyOfRange(model, off, off + 4 * MIB), d.read(off, 4 * MIB, skew),
                                "read at " + off + " with buffers " + skew + " bytes off alignment");
                    }
                }
                aligned.flush();
            }
        }
        Path raw = dir.resolve("d.raw");
        Files.write(raw, model);
        QemuTools.runOk("qemu-img", "check", "-f", "vhdx", img.toString());
        QemuTools.runOk("qemu-img", "compare", "-f", "vhdx", "-F", "raw", img.toString(), raw.toString());
    }

    @Test
    void differencingChainReadsThroughDirectDescriptors() throws Exception {
        Path base = dir.resolve("base.vhdx"), child = dir.resolve("child.vhdx");
        VhdxCreator.create(base).size(SIZE).blockSize(MIB).write();
        byte[] model = TestImages.random(5, SIZE);
        try (VhdxImage image = VhdxImage.open(base, DIRECT); SkewedDriver d = new SkewedDriver(image)) {
            d.write(0, model, 13);
        }
        VhdxCreator.create(child).parent(base).blockSize(MIB).write();
        try (VhdxImage image = VhdxImage.open(child, DIRECT); SkewedDriver d = new SkewedDriver(image)) {
            assertTrue(image.parent().dataFile().direct());
            byte[] mine = TestImages.random(6, 3 * 4096);
            d.write(3 * MIB + 4096, mine, 100); // partially present block: bounced write, bitmap update after it
            System.arraycopy(mine, 0, model, 3 * MIB + 4096, mine.length);
            assertArrayEquals(java.util.Arrays.copyOfRange(model, 2 * MIB, 6 * MIB), d.read(2 * MIB, 4 * MIB, 9));
        }
        try (VhdxImage image = VhdxImage.open(child, DIRECT.withReadOnly(true)); WorkerDriver h = new WorkerDriver(image)) {
            TestImages.assertContent(h, model);
        }
    }
}
