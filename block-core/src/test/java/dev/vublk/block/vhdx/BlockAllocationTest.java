package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.block.ImageOptions;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.IoVecArray;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Block allocations of a dynamic disk on the queue's ring: blocks asked for while one allocation
 * is in flight all get space in the next, through one log entry, rather than one entry each.
 */
class BlockAllocationTest {
    private static final int BLOCK = 1 << 20;
    private static final int BLOCKS = 12;

    @TempDir
    Path dir;

    @Test
    void blocksAskedForMeanwhileShareTheNextLogEntry() throws Exception {
        Path img = dir.resolve("batch.vhdx");
        VhdxCreator.create(img).size((long) BLOCK * BLOCKS).blockSize(BLOCK).write();
        AtomicInteger entries = new AtomicInteger();
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image); Arena arena = Arena.ofConfined()) {
            image.metadata().beginWrites(entries::incrementAndGet); // runs once per durable log entry
            int[] done = {0};
            for (int b = 0; b < BLOCKS; b++) { // all issued before any completes: one in flight, the rest wait
                MemorySegment seg = arena.allocate(4096, 4096);
                seg.fill((byte) (b + 1));
                IoVecArray iov = new IoVecArray(arena, 1);
                iov.add(seg.address(), 4096);
                d.worker().write((long) b * BLOCK + 8192, iov, (t, r) -> {
                    assertEquals(4096, r);
                    done[0]++;
                }, b);
            }
            while (done[0] < BLOCKS) {
                d.ring().submitAndWait();
            }
            assertEquals(2, entries.get(), "the first block's entry, then one for the eleven asked for meanwhile");
            for (int b = 0; b < BLOCKS; b++) {
                byte[] expected = new byte[4096];
                Arrays.fill(expected, (byte) (b + 1));
                assertArrayEquals(expected, d.read((long) b * BLOCK + 8192, 4096), "block " + b);
            }
        }
        QemuTools.assertCheckClean(img, "vhdx", false);
    }
}
