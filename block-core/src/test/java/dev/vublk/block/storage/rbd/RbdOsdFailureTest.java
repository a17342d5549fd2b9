package dev.vublk.block.storage.rbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.uring.IoVecArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The OSD stops answering mid-run (SIGSTOP: a hung or partitioned store): requests started
 * meanwhile wait (librbd resends them; nothing fails, nothing completes), the process and its
 * queue keep going, and once the OSD answers again (SIGCONT) they complete and the data reads
 * back, old and new.
 */
class RbdOsdFailureTest {
    private static final int LEN = 65536;
    private static final long OLD = 4 << 20, NEW = 8 << 20;

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void requestsWaitWhileTheOsdHangsAndCompleteWhenItAnswers() throws Exception {
        CephCluster ceph = CephCluster.shared();
        String image = ceph.createImage(16 << 20);
        byte[] before = RbdStorageTest.random(7, LEN);
        byte[] during = RbdStorageTest.random(8, LEN);
        try (RbdVolume v = RbdVolume.open(ceph.spec(image), false); QueueDriver d = new QueueDriver(v, 2)) {
            assertEquals(LEN, d.writev(OLD, d.buffers(before, 2)));
        } // closed: no cached copy, the read below must reach the OSD
        try (RbdVolume v = RbdVolume.open(ceph.spec(image), false); QueueDriver d = new QueueDriver(v, 8)) {
            IoVecArray back = d.buffers(new byte[LEN], 2);
            ceph.signalOsd("STOP");
            try {
                d.queue.writev(NEW, d.buffers(during, 3), d.done(), 0);
                d.queue.readv(OLD, back, d.done(), 1);
                d.ring.submit();
                Thread.sleep(3000);
                d.ring.processCompletions();
                assertEquals(QueueDriver.PENDING, d.results[0], "write while the OSD hangs");
                assertEquals(QueueDriver.PENDING, d.results[1], "read while the OSD hangs");
            } finally {
                ceph.signalOsd("CONT");
            }
            d.await(2);
            assertEquals(LEN, d.results[0], "write once the OSD answers");
            assertEquals(LEN, d.results[1], "read once the OSD answers");
            assertArrayEquals(before, QueueDriver.bytes(back));
            assertArrayEquals(during, d.read(NEW, LEN));
            assertEquals(0, d.flush());
        }
    }
}
