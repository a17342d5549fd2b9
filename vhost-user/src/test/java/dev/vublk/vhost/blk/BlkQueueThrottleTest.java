package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.BlkRequestType.DISCARD;
import static dev.vublk.vhost.blk.BlkRequestType.FLUSH;
import static dev.vublk.vhost.blk.BlkRequestType.GET_ID;
import static dev.vublk.vhost.blk.BlkRequestType.IN;
import static dev.vublk.vhost.blk.BlkRequestType.S_OK;
import static dev.vublk.vhost.blk.BlkRequestType.WRITE_ZEROES;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.block.BlockWorker;
import dev.vublk.uring.EventFd;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoVecArray;
import dev.vublk.vhost.TestVrings;
import dev.vublk.vhost.Vring;
import dev.vublk.virtqueue.testing.DriverBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Two queues of one disk under a total byte limit of 1 byte/s: the first 512-byte read goes (an
 * empty bucket lets any request go) and leaves 512 s to drain, so the next read on that queue
 * waits far longer than any test runs, and the outcome does not depend on timing. The worker
 * completes every operation inside the call, so once the guest sees the first read used, the
 * queue thread has already popped the next one and is holding it.
 */
class BlkQueueThrottleTest {
    private static final int QUEUE_SIZE = 16;
    /** Bounds for the hang guards: longer than any real step here, far shorter than the 512 s wait. */
    private static final long GUARD_SECONDS = 20;

    /** Counts what reaches it per queue and completes it at once. */
    static final class CountingWorker implements BlockWorker {
        final AtomicInteger reads = new AtomicInteger();
        final AtomicInteger others = new AtomicInteger();

        @Override
        public void read(long offset, IoVecArray buffers, IoCompletion done, long tag) {
            reads.incrementAndGet();
            done.complete(tag, 0);
        }

        @Override public void write(long offset, IoVecArray buffers, IoCompletion done, long tag) { others.incrementAndGet(); done.complete(tag, 0); }

        @Override public void flush(IoCompletion done, long tag) { others.incrementAndGet(); done.complete(tag, 0); }

        @Override public void discard(long offset, long length, IoCompletion done, long tag) { others.incrementAndGet(); done.complete(tag, 0); }

        @Override public void writeZeroes(long offset, long length, boolean unmap, IoCompletion done, long tag) { others.incrementAndGet(); done.complete(tag, 0); }
    }

    private final List<CountingWorker> workers = new ArrayList<>();
    private final List<BlkGuest> guests = new ArrayList<>();
    private final List<Vring> vrings = new ArrayList<>();
    private final List<EventFd> kicks = new ArrayList<>();
    private BlkDisk disk;
    private BlkDevice device;

    @BeforeEach
    void setUp() throws Exception {
        disk = new BlkDisk(new FakeImage(1 << 20, false, ring -> {
            CountingWorker w = new CountingWorker();
            synchronized (workers) {
                workers.add(w);
            }
            return w;
        }), new BlkDeviceOptions(2, QUEUE_SIZE, "s", 512, true));
        device = disk.newDevice();
        disk.setLimits(TestLimits.of("bps", 1));
        for (int q = 0; q < 2; q++) {
            BlkGuest guest = new BlkGuest(QUEUE_SIZE, 4 << 20);
            EventFd kick = EventFd.create();
            Vring vring = TestVrings.configured(q, guest.driver, kick, EventFd.create().fd(), EventFd.create(EventFd.EFD_NONBLOCK).fd());
            guests.add(guest);
            kicks.add(kick);
            vrings.add(vring);
        }
    }

    @AfterEach
    void tearDown() {
        for (Vring v : vrings) {
            device.stopQueue(v);
            TestVrings.release(v);
        }
        guests.forEach(BlkGuest::close);
    }

    /** Starts queue {@code q}; its worker is the last one made. */
    private CountingWorker start(int q) throws Exception {
        device.startQueue(vrings.get(q), guests.get(q).mock.memory());
        synchronized (workers) {
            return workers.getLast();
        }
    }

    private List<DriverBuffer> submitReads(int q, int count) throws Exception {
        BlkGuest g = guests.get(q);
        List<DriverBuffer> statuses = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            DriverBuffer status = g.status();
            g.submit(List.of(g.header(IN, i), DriverBuffer.writable(g.data(512), 512), status));
            statuses.add(status);
        }
        kicks.get(q).write(1);
        return statuses;
    }

    private void awaitUsed(int q, int used) throws InterruptedException {
        HoldingWorker.await("queue " + q + " uses " + used, () -> guests.get(q).driver.deviceUsedIdx() == used);
    }

    private int stopWithinGuard(int q) throws Exception {
        CompletableFuture.runAsync(() -> device.stopQueue(vrings.get(q))).get(GUARD_SECONDS, TimeUnit.SECONDS);
        return vrings.get(q).base();
    }

    @Test
    void aQueueOverTheLimitHoldsItsRequestsWhileTheOtherQueueGoesOn() throws Exception {
        CountingWorker w0 = start(0);
        CountingWorker w1 = start(1);
        List<DriverBuffer> reads = submitReads(0, 3);
        awaitUsed(0, 1);

        BlkGuest g = guests.get(1);
        List<DriverBuffer> statuses = new ArrayList<>();
        for (int type : new int[] {FLUSH, DISCARD, WRITE_ZEROES}) {
            DriverBuffer status = g.status();
            g.submit(type == FLUSH ? List.of(g.header(type, 0), status)
                    : List.of(g.header(type, 0), g.segments(new long[] {0, 8, 0}), status));
            statuses.add(status);
        }
        DriverBuffer idStatus = g.status();
        g.submit(List.of(g.header(GET_ID, 0), DriverBuffer.writable(g.data(20), 20), idStatus));
        statuses.add(idStatus);
        kicks.get(1).write(1);
        awaitUsed(1, 4);
        for (DriverBuffer s : statuses) {
            assertEquals(S_OK, g.statusAt(s), "requests that are not reads or writes are not limited");
        }
        assertEquals(3, w1.others.get(), "flush, discard and write-zeroes reached queue 1's worker");

        assertEquals(1, w0.reads.get(), "queue 0 started only the read that found the bucket empty");
        assertEquals(1, guests.get(0).driver.deviceUsedIdx());
        assertEquals(BlkGuest.UNTOUCHED, guests.get(0).statusAt(reads.get(1)));

        disk.setLimits(IoLimits.NONE); // wakes the waiting queue: its timer would fire in 512 s
        awaitUsed(0, 3);
        for (DriverBuffer s : reads) {
            assertEquals(S_OK, guests.get(0).statusAt(s));
        }
        assertEquals(3, w0.reads.get());
        assertEquals(3, stopWithinGuard(0), "every request consumed");
    }

    @Test
    void stoppingEndsTheWaitAndLeavesTheWaitingRequestInTheRing() throws Exception {
        CountingWorker w0 = start(0);
        List<DriverBuffer> reads = submitReads(0, 3);
        awaitUsed(0, 1);
        assertEquals(1, stopWithinGuard(0), "last_avail_idx counts only the started read: the held one goes back");
        assertEquals(1, w0.reads.get());
        assertEquals(BlkGuest.UNTOUCHED, guests.get(0).statusAt(reads.get(1)));

        // The next back-end (here the same device, restarted at that base) takes the held read first.
        disk.setLimits(IoLimits.NONE);
        CountingWorker again = start(0);
        kicks.get(0).write(1);
        awaitUsed(0, 3);
        assertEquals(2, again.reads.get(), "the two reads left in the ring, each once");
        assertEquals(S_OK, guests.get(0).statusAt(reads.get(1)));
        assertEquals(S_OK, guests.get(0).statusAt(reads.get(2)));
        assertEquals(3, stopWithinGuard(0));
    }

    @Test
    void aQueueWaitingForTheLimitGoesQuietForAnImageChangeAndKeepsWaiting() throws Exception {
        CountingWorker w0 = start(0);
        List<DriverBuffer> reads = submitReads(0, 3);
        awaitUsed(0, 1);
        assertEquals(true, Quiesces.changeWhileQuiesced(device, GUARD_SECONDS), "the held read is not in flight: the queue parked");
        assertEquals(1, w0.reads.get(), "and the read still waits for the limit afterwards");
        assertEquals(BlkGuest.UNTOUCHED, guests.get(0).statusAt(reads.get(1)));
        disk.setLimits(IoLimits.NONE);
        awaitUsed(0, 3);
        assertEquals(3, stopWithinGuard(0));
    }

    @Test
    void newLimitsApplyToTheNextRequestOfARunningQueue() throws Exception {
        disk.setLimits(IoLimits.NONE);
        CountingWorker w0 = start(0);
        submitReads(0, 2);
        awaitUsed(0, 2);
        disk.setLimits(TestLimits.of("bps_rd", 1));
        submitReads(0, 3);
        awaitUsed(0, 3);
        assertEquals(3, w0.reads.get(), "after the change, one read went and the next waits");
        assertEquals(3, stopWithinGuard(0));
    }
}
