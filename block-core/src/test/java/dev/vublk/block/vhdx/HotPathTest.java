package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageOptions;
import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.IoVecArray;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The data path for blocks that are already allocated: no heap allocation per request once the
 * pools are warm, no metadata lock, and no file read for a partially present block's bitmap.
 */
class HotPathTest {
    static final int SIZE = 8 << 20, IO = 4096, ROUNDS = 20_000;
    /** Allocation tolerated over 2 x ROUNDS requests: under one byte per 10 requests. */
    static final long NOISE = 4096;

    @TempDir
    Path dir;

    /** One reused 4 KiB buffer as two iovecs (1 KiB, 3 KiB): requests through it allocate nothing in the driver. */
    private static IoVecArray steadyBuffer(WorkerDriver d) {
        MemorySegment buf = d.arena().allocate(IO, 4096);
        IoVecArray iov = new IoVecArray(d.arena(), 2);
        iov.add(buf.address(), 1024);
        iov.add(buf.address() + 1024, IO - 1024);
        return iov;
    }

    private static long allocatedBytes() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
    }

    /** Measured passes at most: on a loaded machine the JIT may finish compiling after the warm-up. */
    static final int PASSES = 5;

    /**
     * Reads and rewrites of allocated 4 KiB pieces; returns the bytes allocated by a measured
     * pass after a warm-up. Until the JIT has compiled the path, escape analysis has not removed
     * the JDK's own short-lived objects (errno capture around io_uring_enter, ~40 bytes a call), so
     * a pass may repeat; the least a pass allocated is returned. Allocation per request shows in
     * every pass.
     */
    private static long steadyState(WorkerDriver d, long[] offsets) throws Exception {
        IoVecArray iov = steadyBuffer(d);
        int failures = 0;
        for (int i = 0; i < ROUNDS; i++) { // warm-up: pools fill, code is compiled
            long off = offsets[i % offsets.length];
            failures += (d.tryReadv(off, iov) < 0 ? 1 : 0) + (d.tryWritev(off, iov) < 0 ? 1 : 0);
        }
        long least = Long.MAX_VALUE;
        for (int pass = 0; pass < PASSES && least >= NOISE; pass++) {
            long before = allocatedBytes();
            for (int i = 0; i < ROUNDS; i++) {
                long off = offsets[(i * 7) % offsets.length];
                failures += (d.tryReadv(off, iov) < 0 ? 1 : 0) + (d.tryWritev(off, iov) < 0 ? 1 : 0);
            }
            least = Math.min(least, allocatedBytes() - before);
        }
        assertEquals(0, failures, "requests failed");
        return least;
    }

    private static long[] sectorsOf(long start, long length) {
        long[] o = new long[(int) (length / IO)];
        for (int i = 0; i < o.length; i++) {
            o[i] = start + (long) i * IO;
        }
        return o;
    }

    @Test
    void allocatedBlocksOfADynamicDiskAllocateNothingPerRequest() throws Exception {
        Path img = dir.resolve("hot.vhdx");
        VhdxCreator.create(img).size(SIZE).blockSize(1 << 20).write();
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults())) {
            try (WorkerDriver h = new WorkerDriver(image)) {
                h.write(0, TestImages.random(1, SIZE));
            }
            try (WorkerDriver d = new WorkerDriver(image)) {
                long allocated = steadyState(d, sectorsOf(0, SIZE));
                // The old path built a Request, a description string and a Piece per request (~200 bytes):
                // megabytes here. A few hundred bytes of measurement noise are not per request.
                assertTrue(allocated < NOISE, allocated + " bytes allocated by " + 2 * ROUNDS + " requests");
            }
        }
    }

    @Test
    void partiallyPresentBlocksOfADifferencingDiskNeedNoBitmapReadsOrAllocation() throws Exception {
        Path base = dir.resolve("base.vhdx"), child = dir.resolve("child.vhdx");
        VhdxCreator.create(base).size(SIZE).blockSize(1 << 20).write();
        try (VhdxImage image = VhdxImage.open(base, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            h.write(0, TestImages.random(2, SIZE));
        }
        VhdxCreator.create(child).parent(base).blockSize(1 << 20).write();
        byte[] mine = TestImages.random(3, 256 << 10);
        try (VhdxImage image = VhdxImage.open(child, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            for (int block = 0; block < 8; block++) {
                h.write(((long) block << 20) + (128 << 10), mine); // a quarter of every block: partially present
            }
        }
        try (VhdxImage image = VhdxImage.open(child, ImageOptions.defaults())) {
            assertEquals(BatEntry.PARTIALLY_PRESENT, BatEntry.state(image.metadata().payloadEntry(3)));
            SectorBitmaps bitmaps = image.metadata().bitmaps();
            assertTrue(bitmaps.cachedPages() > 0, "open loads the bitmap pages of partially present blocks");
            long missesAtOpen = bitmaps.misses();
            try (WorkerDriver d = new WorkerDriver(image)) {
                long[] offsets = new long[8 * 64];
                for (int i = 0; i < offsets.length; i++) {
                    // Present sectors and parent sectors of each block, both sides of the written quarter.
                    offsets[i] = ((long) (i % 8) << 20) + (i / 8 % 2 == 0 ? (128 << 10) + (i / 16) * IO : (512 << 10) + (i / 16) * IO);
                }
                // Rewrites of present sectors must not go to the lock or the log, reads never to the file.
                long onlyPresent = steadyState(d, java.util.Arrays.stream(offsets).filter(o -> o % (1 << 20) < (384 << 10)).toArray());
                assertTrue(onlyPresent < NOISE, onlyPresent + " bytes allocated by " + 2 * ROUNDS + " requests");
                for (long o : offsets) {
                    d.read(o, IO); // fails on an error
                }
            }
            assertEquals(missesAtOpen, bitmaps.misses(), "a lookup read a bitmap page from the file");
        }
    }

    @Test
    void readsAndOverwritesTakeNoMetadataLock() throws Exception {
        Path base = dir.resolve("b.vhdx"), child = dir.resolve("c.vhdx");
        VhdxCreator.create(base).size(SIZE).blockSize(1 << 20).write();
        byte[] model = TestImages.random(4, SIZE);
        try (VhdxImage image = VhdxImage.open(base, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            h.write(0, model);
        }
        VhdxCreator.create(child).parent(base).blockSize(1 << 20).write();
        byte[] partial = TestImages.random(5, 64 << 10);
        try (VhdxImage image = VhdxImage.open(child, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            h.write(2 << 20, partial);
            System.arraycopy(partial, 0, model, 2 << 20, partial.length);
        }
        try (VhdxImage image = VhdxImage.open(child, ImageOptions.defaults())) {
            try (WorkerDriver warm = new WorkerDriver(image)) {
                warm.write(2 << 20, partial); // begins the write session (header update) before the lock is taken away
            }
            ExecutorService queue = Executors.newSingleThreadExecutor();
            image.metadata().changeLock().lock();
            try {
                Future<byte[]> io = queue.submit(() -> {
                    try (WorkerDriver h = new WorkerDriver(image)) {
                        h.write(2 << 20, partial);              // present sectors of a partially present block
                        byte[] a = h.read(2 << 20, 128 << 10);  // present, then parent sectors
                        byte[] b = h.read(5 << 20, 64 << 10);   // not present at all: the parent's
                        byte[] both = new byte[a.length + b.length];
                        System.arraycopy(a, 0, both, 0, a.length);
                        System.arraycopy(b, 0, both, a.length, b.length);
                        return both;
                    }
                });
                byte[] got;
                try {
                    got = io.get(20, TimeUnit.SECONDS);
                } catch (TimeoutException e) {
                    throw new AssertionError("I/O on allocated data waited for the metadata lock", e);
                }
                byte[] want = new byte[(128 << 10) + (64 << 10)];
                System.arraycopy(model, 2 << 20, want, 0, 128 << 10);
                System.arraycopy(model, 5 << 20, want, 128 << 10, 64 << 10);
                assertArrayEquals(want, got);
            } finally {
                image.metadata().changeLock().unlock();
                queue.shutdown();
                assertTrue(queue.awaitTermination(20, TimeUnit.SECONDS));
            }
        }
    }
}
