package dev.vublk.block.storage.rbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.block.storage.StorageDriver;
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
        byte[] before = StorageDriver.pattern(LEN, 7);
        byte[] during = StorageDriver.pattern(LEN, 8);
        try (RbdVolume v = RbdVolume.open(ceph.spec(image), false); StorageDriver d = new StorageDriver(v)) {
            assertEquals(LEN, d.writev(OLD, d.buffers(before, 2)));
        } // closed: no cached copy, the read below must reach the OSD
        try (RbdVolume v = RbdVolume.open(ceph.spec(image), false); StorageDriver d = new StorageDriver(v)) {
            IoVecArray back = d.buffers(new byte[LEN], 2);
            int write, read;
            ceph.signalOsd("STOP");
            try {
                write = d.startWritev(NEW, d.buffers(during, 3));
                read = d.startReadv(OLD, back);
                d.ring().submit();
                Thread.sleep(3000);
                d.ring().processCompletions();
                assertEquals(StorageDriver.PENDING, d.result(write), "write while the OSD hangs");
                assertEquals(StorageDriver.PENDING, d.result(read), "read while the OSD hangs");
            } finally {
                ceph.signalOsd("CONT");
            }
            assertEquals(LEN, d.await(write), "write once the OSD answers");
            assertEquals(LEN, d.await(read), "read once the OSD answers");
            assertArrayEquals(before, StorageDriver.bytes(back));
            assertArrayEquals(during, d.read(NEW, LEN));
            assertEquals(0, d.flush());
        }
    }
}
