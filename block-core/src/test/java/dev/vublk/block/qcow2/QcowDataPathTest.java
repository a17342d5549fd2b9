package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.IoVecArray;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The steady-state data path allocates nothing; discards never bring back old data nor race writes. */
class QcowDataPathTest {
    @TempDir
    Path dir;

    /**
     * Bytes the calling thread allocates for 1500 reads and writes of 192 KiB at allocated
     * offsets, after as many for warm-up (JIT compilation).
     */
    private static long steadyStateAllocation(BlockImage image) throws Exception {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (WorkerDriver d = new WorkerDriver(image);
             Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(192 << 10, 4096); // spans up to four clusters
            IoVecArray iov = new IoVecArray(arena, 2); // reused: the loop itself allocates nothing
            long third = (buffer.byteSize() / 3) & ~511L;
            iov.add(buffer.address(), third);
            iov.add(buffer.address() + third, buffer.byteSize() - third);
            long before = 0;
            for (int round = 0; round < 3; round++) {
                before = threads.getCurrentThreadAllocatedBytes();
                for (int i = 0; i < 1500; i++) {
                    long offset = ((i * 7919L) % 200) * 65536 + (i % 3) * 4096;
                    assertEquals(buffer.byteSize(), i % 2 == 0 ? d.tryWritev(offset, iov) : d.tryReadv(offset, iov));
                }
            }
            return threads.getCurrentThreadAllocatedBytes() - before;
        }
    }

    /**
     * The same loop over a RAW copy is the baseline: whatever the ring and the kernel interface
     * allocate is in both, what qcow2 adds must be nothing.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void allocatedClusterReadsAndWritesDoNotAllocate(boolean direct) throws Exception {
        Path img = dir.resolve("alloc.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=65536", 16L << 20);
        QemuTools.io(img, "qcow2", "write -P 0x11 0 16M");
        Path raw = dir.resolve("alloc.raw");
        QemuTools.toRaw(img, raw);
        ImageOptions options = ImageOptions.defaults().withDirect(direct);
        long rawBytes;
        try (BlockImage image = Images.open(raw, ImageFormat.RAW, options)) {
            rawBytes = steadyStateAllocation(image);
        }
        long qcowBytes;
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, options)) {
            qcowBytes = steadyStateAllocation(image);
        }
        assertTrue(qcowBytes <= rawBytes + 4096, "1500 steady-state requests allocated " + qcowBytes
                + " bytes through qcow2, " + rawBytes + " through raw");
        QemuTools.assertCheckClean(img, "qcow2", false);
    }

    /**
     * A guest overwrote backing data, then discards: parts of clusters are left alone (virtio lets
     * a discard do nothing), whole ones read as zeros (version 3) or stay (version 2), and never
     * does the backing file's old data come back.
     */
    @ParameterizedTest
    @ValueSource(strings = {"cluster_size=65536", "extended_l2=on", "cluster_size=4096", "compat=0.10"})
    void discardOverABackingFileNeverBringsBackOldData(String options) throws Exception {
        Path base = dir.resolve("base.raw");
        QemuTools.create(base, "raw", null, 4L << 20);
        QemuTools.io(base, "raw", "write -P 0xaa 0 4M");
        Path img = dir.resolve("top.qcow2");
        QemuTools.create(img, "qcow2", options + ",backing_file=" + base + ",backing_fmt=raw", 4L << 20);
        int len = 1 << 20;
        byte[] guest = new byte[len];
        Arrays.fill(guest, (byte) 0xbb);
        long[][] discards = {{8192, 4096}, {60 << 10, 140 << 10}, {256 << 10, 256 << 10}, {(600 << 10) + 512, 1024}};
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            int cs = ((QcowImage) image).metadata().clusterSize();
            assertEquals(len, d.write(0, guest));
            for (long[] r : discards) {
                assertEquals(0, d.discard(r[0], r[1]));
            }
            assertEquals(0, d.flush());
            byte[] got = d.read(0, len);
            boolean v3 = !options.contains("compat=0.10");
            for (int i = 0; i < len; i++) {
                boolean discarded = false;
                boolean wholeCluster = false;
                for (long[] r : discards) {
                    if (i >= r[0] && i < r[0] + r[1]) {
                        discarded = true;
                        long cluster = i & -(long) cs;
                        wholeCluster = cluster >= r[0] && cluster + cs <= r[0] + r[1];
                    }
                }
                if (!discarded) {
                    assertEquals((byte) 0xbb, got[i], "byte " + i + " was not discarded");
                } else if (wholeCluster && v3) {
                    assertEquals(0, got[i], "byte " + i + " of a discarded cluster");
                } else {
                    assertTrue(got[i] == (byte) 0xbb || got[i] == 0, "byte " + i + " reads 0x"
                            + Integer.toHexString(got[i] & 0xff) + " after a discard");
                }
            }
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        Path raw = dir.resolve("top.raw");
        QemuTools.toRaw(img, raw);
        byte[] seen = java.nio.file.Files.readAllBytes(raw);
        for (int i = 0; i < len; i++) {
            assertTrue(seen[i] == (byte) 0xbb || seen[i] == 0, "qemu sees 0x" + Integer.toHexString(seen[i] & 0xff)
                    + " at " + i);
        }
    }

    /**
     * An in-place write is planned (its cluster looked up) but not yet submitted when another
     * queue discards that cluster, flushes, and allocates a new cluster. The freed cluster must
     * not be handed out while the late write can still land in it.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void discardDoesNotFreeAClusterUnderAnInFlightWrite(boolean zeroesInstead) throws Exception {
        Path img = dir.resolve("race.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=65536", 8L << 20);
        byte[] fresh = new byte[65536];
        Arrays.fill(fresh, (byte) 0x77);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver a = new WorkerDriver(image);
             WorkerDriver b = new WorkerDriver(image);
             Arena arena = Arena.ofConfined()) {
            assertEquals(65536, a.write(0, QcowInteropTest.pattern(0x10, 65536)));
            assertEquals(0, a.flush());
            MemorySegment late = arena.allocate(65536, 4096);
            late.fill((byte) 0xee);
            IoVecArray stalled = new IoVecArray(arena, 1);
            stalled.add(late.address(), late.byteSize());
            int[] stalledResult = {Integer.MIN_VALUE};
            a.worker().write(0, stalled, (t, r) -> stalledResult[0] = r, 0); // prepared on a's ring, not submitted yet
            if (zeroesInstead) {
                assertEquals(0, b.writeZeroes(0, 65536, true));
            } else {
                assertEquals(0, b.discard(0, 65536));
            }
            assertEquals(0, b.flush());
            assertEquals(65536, b.write(1L << 20, fresh));
            assertEquals(0, b.flush());
            while (stalledResult[0] == Integer.MIN_VALUE) {
                a.ring().submitAndWait();
            }
            assertEquals(65536, stalledResult[0]);
            assertArrayEquals(fresh, b.read(1L << 20, 65536), "the new cluster received the late write");
            assertArrayEquals(new byte[65536], b.read(0, 65536));
            assertEquals(0, b.flush());
        }
        // The deferred free was applied once the write finished: no leak.
        QemuTools.assertCheckClean(img, "qcow2", false);
        QemuTools.io(img, "qcow2", "read -P 0x77 1M 64k", "read -P 0 0 64k");
    }

    /** A RAW backing file whose size is no multiple of a sector: its tail is read, the rest is zeros. */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aBackingFileEndingInsideASectorIsReadToItsEnd(boolean direct) throws Exception {
        Path base = dir.resolve("odd.raw");
        byte[] head = new byte[1000];
        Arrays.fill(head, (byte) 0x2f);
        java.nio.file.Files.write(base, head);
        Path top = dir.resolve("top.qcow2");
        QemuTools.runOk("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", base.toString(), top.toString(), "1M");
        try (BlockImage image = Images.open(top, ImageFormat.QCOW2, ImageOptions.defaults().withDirect(direct));
             WorkerDriver d = new WorkerDriver(image)) {
            byte[] expected = new byte[4096];
            System.arraycopy(head, 0, expected, 0, head.length);
            assertArrayEquals(expected, d.read(0, 4096));
        }
    }

    @Test
    void concurrentDiscardsAndInPlaceWritesKeepOtherClustersIntact() throws Exception {
        Path img = dir.resolve("mt.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=4096", 8L << 20);
        QemuTools.io(img, "qcow2", "write -P 0x01 0 8M");
        int clusters = 2048;
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults())) {
            // Thread one keeps rewriting clusters 0-63 in place and discarding them; thread two
            // writes its own clusters 1024-2047 (allocating again after thread one's frees) and checks them.
            var failure = new java.util.concurrent.atomic.AtomicReference<Throwable>();
            Thread churn = Thread.ofPlatform().start(() -> {
                try (WorkerDriver d = new WorkerDriver(image)) {
                    for (int i = 0; i < 3000; i++) {
                        int c = i % 64;
                        if (d.write((long) c * 4096, QcowConcurrencyTest.content(c)) != 4096) {
                            throw new AssertionError("churn write failed");
                        }
                        if (i % 7 == 0 && d.discard((long) ((i / 7) % 64) * 4096, 4096) != 0) {
                            throw new AssertionError("churn discard failed");
                        }
                        if (i % 50 == 0 && d.flush() != 0) {
                            throw new AssertionError("churn flush failed");
                        }
                    }
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            try (WorkerDriver d = new WorkerDriver(image)) {
                for (int round = 0; round < 3; round++) {
                    for (int c = 1024; c < clusters; c += 3) {
                        assertEquals(4096, d.write((long) c * 4096, QcowConcurrencyTest.content(c + round)));
                    }
                    assertEquals(0, d.discard(1024L * 4096, 512L * 4096));
                    assertEquals(0, d.flush());
                    for (int c = 1537; c < clusters; c += 3) { // written above (c % 3 == 1) and not discarded
                        assertArrayEquals(QcowConcurrencyTest.content(c + round), d.read((long) c * 4096, 4096), "cluster " + c);
                    }
                }
            }
            churn.join(120_000);
            if (failure.get() != null) {
                throw new AssertionError("churn thread failed", failure.get());
            }
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
    }
}
