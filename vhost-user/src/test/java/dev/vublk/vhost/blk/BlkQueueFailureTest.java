package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.BlkRequestType.IN;
import static dev.vublk.vhost.blk.BlkRequestType.S_OK;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.vublk.uring.EventFd;
import dev.vublk.uring.NativeException;
import dev.vublk.vhost.TestVrings;
import dev.vublk.vhost.Vring;
import dev.vublk.virtqueue.testing.DriverBuffer;
import dev.vublk.virtqueue.testing.UsedElement;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Two running queue threads; queue 0's worker keeps a read in flight on the ring until the test
 * opens a gate, and throws what a truncated guest memfd raises on another read. Waits poll with
 * a generous deadline: they assert that something happens, never how fast.
 */
class BlkQueueFailureTest {
    private static final int DISK = 1 << 20;

    private final List<Vring> vrings = new ArrayList<>();
    private BlkGuest guest0, guest1;
    private HoldingWorker worker0;
    private BlkDevice device;
    private EventFd kick0, kick1, err0, err1;

    @BeforeEach
    void setUp() throws Exception {
        guest0 = new BlkGuest(8, 4 << 20);
        guest1 = new BlkGuest(8, 4 << 20);
        MemoryWorker worker1 = new MemoryWorker(DISK, guest1.mock.memory());
        device = new BlkDevice(new FakeImage(DISK, false, ring -> {
            if (worker0 == null) {
                worker0 = new HoldingWorker(ring, 4096); // the read of sector 8 faults
                return worker0;
            }
            return worker1;
        }), new BlkDeviceOptions(2, 8, "s", 512, true));
        kick0 = EventFd.create();
        kick1 = EventFd.create();
        err0 = EventFd.create(EventFd.EFD_NONBLOCK);
        err1 = EventFd.create(EventFd.EFD_NONBLOCK);
        vrings.add(TestVrings.configured(0, guest0.driver, kick0, EventFd.create().fd(), err0.fd()));
        vrings.add(TestVrings.configured(1, guest1.driver, kick1, EventFd.create().fd(), err1.fd()));
        device.startQueue(vrings.get(0), guest0.mock.memory());
        device.startQueue(vrings.get(1), guest1.mock.memory());
    }

    @AfterEach
    void tearDown() {
        for (Vring v : vrings) {
            device.stopQueue(v);
            TestVrings.release(v); // closes kick, call and err eventfds
        }
        if (worker0 != null) {
            worker0.gate.close();
        }
        guest0.close();
        guest1.close();
    }

    private static boolean signalled(EventFd fd) {
        try {
            return fd.read() == 1;
        } catch (NativeException e) {
            return false; // EAGAIN: not yet
        }
    }

    private DriverBuffer read(BlkGuest guest, EventFd kick, long sector) throws NativeException {
        DriverBuffer status = guest.status();
        guest.submit(List.of(guest.header(IN, sector), DriverBuffer.writable(guest.data(512), 512), status));
        kick.write(1);
        return status;
    }

    @Test
    void aFailedQueueDrainsItsRingSignalsErrAndTheOtherQueueServes() throws Exception {
        DriverBuffer gated = read(guest0, kick0, 0);
        HoldingWorker.await("the first read is held in flight", () -> worker0.holding == 1);
        DriverBuffer faulting = read(guest0, kick0, 8);
        HoldingWorker.await("queue 0 signals its err eventfd", () -> signalled(err0));
        assertFalse(worker0.closed, "buffers are not freed while the gated read is in flight");

        DriverBuffer other = read(guest1, kick1, 0);
        HoldingWorker.await("queue 1 completes its read", () -> guest1.statusAt(other) != BlkGuest.UNTOUCHED);
        UsedElement used = guest1.driver.pollUsed();
        assertNotNull(used);
        assertEquals(513, used.length());
        assertEquals(S_OK, guest1.statusAt(other));

        worker0.gate.write(1);
        HoldingWorker.await("queue 0 closes its worker once its ring drained", () -> worker0.closed);
        assertFalse(worker0.closedWithReadInFlight, "closed only after the in-flight read completed");
        assertEquals(BlkGuest.UNTOUCHED, guest0.statusAt(gated), "a failed queue leaves guest memory alone");
        assertEquals(BlkGuest.UNTOUCHED, guest0.statusAt(faulting));
        assertNull(guest0.driver.pollUsed(), "nothing published after the failure");
        assertFalse(signalled(err1), "queue 1 did not fail");

        device.stopQueue(vrings.get(0)); // returns: the failed thread has ended
        assertEquals(2, vrings.get(0).base(), "both requests were taken from the ring");
        QueueStatistics stats = device.disk().statistics().queues().get(0);
        assertEquals(1, stats.requests(RequestKind.READ, RequestStatus.IOERR), "the gated read failed with its queue");
        assertEquals(1, stats.dropped(), "the faulting read never completed");
        assertEquals(0, stats.inFlight());
    }

    @Test
    void aHeadPostedAgainWhileInFlightBreaksOnlyThatQueue() throws Exception {
        DriverBuffer gated = read(guest0, kick0, 0);
        HoldingWorker.await("the first read is held in flight", () -> worker0.holding == 1);
        guest0.driver.offer(0); // head 0 again, while its read is in flight
        guest0.driver.publish();
        kick0.write(1);
        HoldingWorker.await("queue 0 signals its err eventfd", () -> signalled(err0));
        worker0.gate.write(1);
        HoldingWorker.await("the first request on head 0 completes", () -> guest0.statusAt(gated) != BlkGuest.UNTOUCHED);
        assertEquals(S_OK, guest0.statusAt(gated));
        assertEquals(1, worker0.reads, "no second request was started on the same descriptors");

        DriverBuffer other = read(guest1, kick1, 0);
        HoldingWorker.await("queue 1 completes its read", () -> guest1.statusAt(other) != BlkGuest.UNTOUCHED);
        assertEquals(S_OK, guest1.statusAt(other));
    }
}
