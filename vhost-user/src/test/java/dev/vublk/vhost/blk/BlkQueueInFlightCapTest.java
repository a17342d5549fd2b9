package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.BlkRequestType.IN;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.uring.EventFd;
import dev.vublk.vhost.TestVrings;
import dev.vublk.vhost.Vring;
import dev.vublk.virtqueue.testing.DriverBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A queue larger than {@link BlkQueueThread#MAX_IN_FLIGHT} with more requests available than
 * that: the {@link HoldingWorker} holds every read until the test opens its gate, so it sees
 * exactly how many the queue started at once; the rest must still be served once those complete.
 */
class BlkQueueInFlightCapTest {
    private static final int QUEUE_SIZE = 2048;
    private static final int REQUESTS = BlkQueueThread.MAX_IN_FLIGHT + 76;

    @Test
    void aLargeQueueStartsAtMostMaxInFlightRequestsAndServesTheRestAfter() throws Exception {
        HoldingWorker[] worker = new HoldingWorker[1];
        BlkDevice device = new BlkDevice(new FakeImage(1 << 20, false, ring -> worker[0] = new HoldingWorker(ring, -1)),
                new BlkDeviceOptions(1, QUEUE_SIZE, "s", 512, true));
        try (BlkGuest guest = new BlkGuest(QUEUE_SIZE, 16 << 20)) {
            EventFd kick = EventFd.create();
            Vring vring = TestVrings.configured(0, guest.driver, kick, EventFd.create().fd(), EventFd.create(EventFd.EFD_NONBLOCK).fd());
            try {
                device.startQueue(vring, guest.mock.memory());
                for (int i = 0; i < REQUESTS; i++) {
                    guest.submitIndirect(List.of(guest.header(IN, 0), DriverBuffer.writable(guest.data(512), 512), guest.status()));
                }
                kick.write(1);
                HoldingWorker w = worker[0];
                HoldingWorker.await("the first requests reach the worker", () -> w.holding == BlkQueueThread.MAX_IN_FLIGHT);
                w.gate.write(1);
                HoldingWorker.await("the requests left in the ring reach the worker", () -> w.holding == REQUESTS - BlkQueueThread.MAX_IN_FLIGHT);
                w.gate.write(1);
                HoldingWorker.await("every request completes", () -> w.completed == REQUESTS);
                assertEquals(BlkQueueThread.MAX_IN_FLIGHT, w.maxHeld, "never more started at once");
                int used = 0;
                while (used < REQUESTS) {
                    if (guest.driver.pollUsed() != null) {
                        used++;
                    } else {
                        Thread.sleep(1);
                    }
                }
                device.stopQueue(vring);
                assertEquals(REQUESTS, vring.base());
            } finally {
                device.stopQueue(vring);
                TestVrings.release(vring);
                if (worker[0] != null) {
                    worker[0].gate.close();
                }
            }
        }
    }
}
