package dev.vublk.block.storage.rbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageException;
import dev.vublk.block.storage.StorageDriver;
import dev.vublk.uring.Errno;
import dev.vublk.uring.Fds;
import dev.vublk.uring.IoVecArray;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link RbdVolume} and its queue sides over a real Ceph cluster and real rings: data written
 * through guest-memory iovecs reads back, and reads back the same through {@code rbd export}
 * (librbd in another process); zeroing, flush, snapshots, resize, failures at open, and the
 * stop/close contract that lets a stopping queue's ring drain.
 */
class RbdStorageTest {
    private static final int SIZE = 16 << 20;
    private static CephCluster ceph;

    @BeforeAll
    static void cluster() {
        ceph = CephCluster.shared();
    }

    @Test
    void vectoredWritesReadBackAndRbdExportAgrees() throws Exception {
        String image = ceph.createImage(SIZE);
        byte[] data = StorageDriver.pattern((1 << 20) + 4096 + 1000, 1);
        long offset = (4 << 20) - 12345; // across an object boundary (4 MiB objects)
        try (RbdVolume v = RbdVolume.open(ceph.spec(image), false); StorageDriver d = new StorageDriver(v)) {
            assertTrue(v.writable());
            assertEquals(1, v.alignment());
            assertEquals(SIZE, v.size());
            assertEquals(data.length, d.writev(offset, d.buffers(data, 5)));
            IoVecArray in = d.buffers(new byte[data.length], 4);
            assertEquals(data.length, d.readv(offset, in));
            assertArrayEquals(data, StorageDriver.bytes(in));
            assertEquals(0, d.flush());
        }
        byte[] expected = new byte[SIZE];
        System.arraycopy(data, 0, expected, (int) offset, data.length);
        assertArrayEquals(expected, ceph.export(image));
    }

    @Test
    void discardAndWriteZeroesReadBackZerosAndKeepNeighbours() throws Exception {
        String image = ceph.createImage(SIZE);
        byte[] data = StorageDriver.pattern(1 << 20, 2);
        try (RbdVolume v = RbdVolume.open(ceph.spec(image), false); StorageDriver d = new StorageDriver(v)) {
            assertEquals(data.length, d.writev(0, d.buffers(data, 3)));
            assertEquals(0, d.zero(1000, 70_000, true), "discard");
            assertEquals(0, d.zero(300_000, 5_000, false), "write-zeroes");
            byte[] expected = data.clone();
            Arrays.fill(expected, 1000, 71_000, (byte) 0);
            Arrays.fill(expected, 300_000, 305_000, (byte) 0);
            assertArrayEquals(expected, d.read(0, data.length));
            assertEquals(0, d.flush());
            v.flush();
            byte[] exported = ceph.export(image);
            assertArrayEquals(expected, Arrays.copyOf(exported, data.length));
        }
    }

    /** Two queues on two threads, 32 writes each in flight at once, then 32 reads each at once. */
    @Test
    void manyInFlightOnTwoQueues() throws Exception {
        String image = ceph.createImage(SIZE);
        int ops = 32, len = 65536 + 512;
        try (RbdVolume v = RbdVolume.open(ceph.spec(image), false)) {
            CompletableFuture<?>[] queues = new CompletableFuture<?>[2];
            for (int q = 0; q < 2; q++) {
                int queue = q;
                queues[q] = CompletableFuture.runAsync(() -> {
                    try (StorageDriver d = new StorageDriver(v)) {
                        byte[][] data = new byte[ops][];
                        int[] writes = new int[ops];
                        for (int i = 0; i < ops; i++) {
                            data[i] = StorageDriver.pattern(len, 100 * queue + i);
                            writes[i] = d.startWritev((long) (queue * ops + i) * len, d.buffers(data[i], 3));
                        }
                        for (int i = 0; i < ops; i++) {
                            assertEquals(len, d.await(writes[i]), "write " + i + " of queue " + queue);
                        }
                        IoVecArray[] back = new IoVecArray[ops];
                        int[] reads = new int[ops];
                        for (int i = 0; i < ops; i++) {
                            back[i] = d.buffers(new byte[len], 2);
                            reads[i] = d.startReadv((long) (queue * ops + i) * len, back[i]);
                        }
                        for (int i = 0; i < ops; i++) {
                            assertEquals(len, d.await(reads[i]), "read " + i + " of queue " + queue);
                            assertArrayEquals(data[i], StorageDriver.bytes(back[i]), "read " + i + " of queue " + queue);
                        }
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                }, Thread::startVirtualThread);
            }
            CompletableFuture.allOf(queues).join();
        }
    }

    @Test
    void snapshotOpensReadOnlyAndReadsItsData() throws Exception {
        String image = ceph.createImage(SIZE);
        byte[] before = StorageDriver.pattern(8192, 3);
        byte[] after = StorageDriver.pattern(8192, 4);
        try (RbdVolume v = RbdVolume.open(ceph.spec(image), false); StorageDriver d = new StorageDriver(v)) {
            assertEquals(before.length, d.writev(4096, d.buffers(before, 2)));
            assertEquals(0, d.flush());
        }
        ceph.rbd("snap", "create", "rbd/" + image + "@s1");
        try (RbdVolume v = RbdVolume.open(ceph.spec(image), false); StorageDriver d = new StorageDriver(v)) {
            assertEquals(after.length, d.writev(4096, d.buffers(after, 2)));
        }
        try (RbdVolume snap = RbdVolume.open(ceph.spec(image + "@s1"), false); StorageDriver d = new StorageDriver(snap)) {
            assertFalse(snap.writable(), "a snapshot opens read-only");
            assertArrayEquals(before, d.read(4096, before.length));
            assertEquals(-Errno.EROFS, d.writev(4096, d.buffers(after, 1)));
            assertEquals(-Errno.EROFS, d.zero(0, 4096, false));
            assertArrayEquals(before, d.read(4096, before.length));
        }
    }

    @Test
    void resizeIsReflectedInSize() throws Exception {
        String image = ceph.createImage(SIZE);
        try (RbdVolume v = RbdVolume.open(ceph.spec(image), false)) {
            v.resize(2L * SIZE);
            assertEquals(2L * SIZE, v.size());
        }
        assertTrue(ceph.rbd("info", "rbd/" + image).contains("size 32 MiB"), "rbd info after resize");
        try (RbdVolume v = RbdVolume.open(ceph.spec(image), true)) {
            assertEquals(2L * SIZE, v.size());
            assertThrows(UnsupportedOperationException.class, () -> v.resize(SIZE));
        }
    }

    @Test
    void missingImageOrPoolFailsOpenNamingTheCause() {
        ImageException image = assertThrows(ImageException.class, () -> RbdVolume.open(ceph.spec("absent"), false));
        assertTrue(image.getMessage().contains("rbd:rbd/absent") && image.getMessage().contains("ENOENT"), image.getMessage());
        ImageException pool = assertThrows(ImageException.class,
                () -> RbdVolume.open("rbd:nopool/x:conf=" + ceph.conf(), false));
        assertTrue(pool.getMessage().contains("pool nopool") && pool.getMessage().contains("ENOENT"), pool.getMessage());
        ImageException conf = assertThrows(ImageException.class,
                () -> RbdVolume.open("rbd:rbd/x:conf=/nonexistent/ceph.conf", false));
        assertTrue(conf.getMessage().contains("rados_conf_read_file"), conf.getMessage());
    }

    /**
     * The exclusive lock as QEMU handles it: taken on our first write (rbd lock ls and rbd status
     * show us), handed over when another client writes, taken back on our next write; nobody's
     * data is lost on the way.
     */
    @Test
    void exclusiveLockIsTakenOnWriteAndHandedOverCooperatively() throws Exception {
        String image = ceph.createImage(SIZE);
        byte[] ours = StorageDriver.pattern(8192, 6);
        try (RbdVolume v = RbdVolume.open(ceph.spec(image), false); StorageDriver d = new StorageDriver(v)) {
            assertTrue(ceph.rbd("status", "rbd/" + image).contains("watcher="), "rbd status lists our watch");
            assertFalse(v.ownsExclusiveLock(), "no lock before the first write");
            assertEquals(ours.length, d.writev(1 << 20, d.buffers(ours, 2)));
            assertTrue(v.ownsExclusiveLock(), "lock taken by the first write");
            assertTrue(ceph.rbd("lock", "ls", "rbd/" + image).contains("1 exclusive lock"), "rbd lock ls shows it");

            ceph.rbd("bench", "--io-type", "write", "--io-size", "4096", "--io-total", "65536", "--io-threads", "1",
                    "--io-pattern", "seq", "rbd/" + image); // writes [0, 64 KiB)
            assertFalse(v.ownsExclusiveLock(), "lock handed to the other writer");

            assertEquals(ours.length, d.writev(2 << 20, d.buffers(ours, 3)));
            assertTrue(v.ownsExclusiveLock(), "lock taken back by our next write");
            assertArrayEquals(ours, d.read(1 << 20, ours.length));
            assertArrayEquals(ours, d.read(2 << 20, ours.length));
            assertFalse(Arrays.equals(new byte[65536], d.read(0, 65536)), "the other client's writes are there");
        }
    }

    /**
     * Stop with operations in flight: they complete, then the standing eventfd read ends, so the
     * ring drains to nothing in flight; close leaves no descriptor of the side open. Without
     * the stop the drain waits forever: the timeout turns that hang into a failure.
     */
    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void stopDrainsTheRingAndCloseLeavesNoDescriptor() throws Exception {
        String image = ceph.createImage(SIZE);
        try (RbdVolume v = RbdVolume.open(ceph.spec(image), false)) {
            int fdsBefore = Fds.openCount();
            StorageDriver d = new StorageDriver(v);
            byte[] data = StorageDriver.pattern(65536, 5);
            int[] writes = new int[16];
            for (int i = 0; i < 16; i++) {
                writes[i] = d.startWritev(i * 65536L, d.buffers(data, 2));
            }
            d.stopAndDrain();
            assertEquals(0, d.ring().inFlight());
            for (int i = 0; i < 16; i++) {
                assertEquals(data.length, d.result(writes[i]), "write " + i);
            }
            d.close();
            assertEquals(fdsBefore, Fds.openCount(), "descriptors after the queue side closed");

            StorageDriver idle = new StorageDriver(v); // a side that never ran an operation stops too
            idle.close();
            assertEquals(fdsBefore, Fds.openCount(), "descriptors after an idle side closed");
        }
    }
}
