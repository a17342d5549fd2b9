package dev.vublk.tests.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.tests.backend.BackendKind;
import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.BlkCompletion;
import dev.vublk.tests.frontend.BlkQueueDriver;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.GuestBuffer;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import dev.vublk.uring.EventFd;
import dev.vublk.uring.NativeException;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a guest can make one queue do, through the test front-end against our backend: a data
 * segment beyond size_max costs one request (IOERR), a head made available twice costs its queue
 * (err eventfd), and neither touches the other queue or the connection.
 */
class GuestReachTest {
    @TempDir
    Path dir;
    BackendFixture f;
    VhostUserBlkFrontend fe;

    @BeforeEach
    void setUp() throws Exception {
        f = new BackendFixture(BackendKind.OURS_IN_PROCESS, dir);
        f.start(2);
        fe = f.open(FrontendOptions.qemu(2).withQueueSize(16));
    }

    @AfterEach
    void tearDown() throws Exception {
        f.close();
    }

    /** Polls the (non-blocking) err eventfd until it was written or the deadline passed. */
    private static boolean signalled(EventFd fd, long deadlineNanos) throws InterruptedException {
        while (System.nanoTime() < deadlineNanos) {
            try {
                return fd.read() >= 1;
            } catch (NativeException e) {
                Thread.sleep(10); // EAGAIN: not yet
            }
        }
        return false;
    }

    @Test
    void aSegmentBeyondSizeMaxIsIoerrAndTheQueueGoesOn() {
        int sizeMax = fe.configView().sizeMax();
        assertEquals(1 << 20, sizeMax);
        BlkQueueDriver q = fe.queue(0);
        GuestBuffer big = fe.ram().allocate(0, sizeMax + 512, 4096);
        try {
            BlkCompletion done = q.run(BlkCommand.read(0, big));
            assertEquals(BlkCommand.S_IOERR, done.status());
            assertEquals(1, done.usedLength());
        } finally {
            fe.ram().free(big);
        }
        assertEquals(BlkCommand.S_OK, q.read(0, 4096).status());
    }

    @Test
    void aHeadPostedTwiceFailsOnlyItsQueue() throws Exception {
        BlkQueueDriver q0 = fe.queue(0);
        GuestBuffer buf = fe.ram().allocate(0, 4096, 4096);
        try {
            int head = q0.offer(BlkCommand.read(0, buf));
            q0.virtqueue().ring().offer(head); // the same head again, before the device used it
            q0.publish();
            q0.virtqueue().kick();
            assertTrue(signalled(fe.errFd(0), System.nanoTime() + 20_000_000_000L), "queue 0 signals its err eventfd");
        } finally {
            fe.ram().free(buf);
        }
        byte[] data = new byte[4096];
        java.util.Arrays.fill(data, (byte) 0x42);
        assertEquals(BlkCommand.S_OK, fe.queue(1).write(8, data).status());
        assertArrayEquals(data, fe.queue(1).read(8, 4096).data());
        assertEquals(fe.offeredFeatures(), fe.client().getFeatures(), "the connection still answers");
    }
}
