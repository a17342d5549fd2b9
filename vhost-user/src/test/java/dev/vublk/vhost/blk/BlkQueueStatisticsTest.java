package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.BlkRequestType.DISCARD;
import static dev.vublk.vhost.blk.BlkRequestType.FLUSH;
import static dev.vublk.vhost.blk.BlkRequestType.GET_ID;
import static dev.vublk.vhost.blk.BlkRequestType.IN;
import static dev.vublk.vhost.blk.BlkRequestType.OUT;
import static dev.vublk.vhost.blk.BlkRequestType.WRITE_ZEROES;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.uring.EventFd;
import dev.vublk.vhost.TestVrings;
import dev.vublk.vhost.Vring;
import dev.vublk.vhost.blk.RequestKind.LatencyClass;
import dev.vublk.virtqueue.testing.DriverBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A running queue thread counting into its disk's statistics: exact counts and bytes after known
 * requests, reads held in flight by the {@link HoldingWorker} seen as in flight, and a second
 * connection's queue of the same index continuing the same counters. Waits poll with a generous
 * deadline: they assert that something happens, never how fast.
 */
class BlkQueueStatisticsTest {
    private static final int DISK = 1 << 20;
    private static final int QUEUE = 1;

    private final List<HoldingWorker> workers = new ArrayList<>();
    private final List<BlkGuest> guests = new ArrayList<>();
    private final BlkDisk disk = new BlkDisk(new FakeImage(DISK, false, ring -> {
        HoldingWorker w = new HoldingWorker(ring, -1);
        workers.add(w);
        return w;
    }), new BlkDeviceOptions(2, 64, "stats-disk", 512, true));

    /** One connection's queue {@link #QUEUE} over a guest of its own. */
    private final class Connection implements AutoCloseable {
        final BlkDevice device = disk.newDevice();
        final BlkGuest guest = new BlkGuest(64, 8 << 20);
        final EventFd kick = EventFd.create();
        final Vring vring = TestVrings.configured(QUEUE, guest.driver, kick, EventFd.create().fd(),
                EventFd.create(EventFd.EFD_NONBLOCK).fd());

        Connection() throws Exception {
            guests.add(guest);
            device.startQueue(vring, guest.mock.memory());
        }

        void submit(int type, long sector, DriverBuffer... data) {
            guest.submit(BlkGuest.request(guest.header(type, sector), List.of(data), guest.status()));
        }

        DriverBuffer writable(int bytes) {
            return DriverBuffer.writable(guest.data(bytes), bytes);
        }

        HoldingWorker worker() {
            return workers.getLast();
        }

        /** Releases reads still held (a failed assertion leaves them), so stopping does not wait for them. */
        @Override
        public void close() throws Exception {
            worker().gate.write(1);
            device.stopQueue(vring);
            TestVrings.release(vring);
        }
    }

    @AfterEach
    void tearDown() {
        workers.forEach(w -> w.gate.close());
        guests.forEach(BlkGuest::close);
    }

    private QueueStatistics queue() {
        return disk.statistics().queues().get(QUEUE);
    }

    @Test
    void everyKindIsCountedOnItsQueueWithBytesInFlightAndLatencies() throws Exception {
        try (Connection c = new Connection()) {
            c.submit(OUT, 0, DriverBuffer.readable(c.guest.data(4096), 4096));
            c.submit(FLUSH, 0);
            c.submit(GET_ID, 0, c.writable(20));
            c.submit(99, 0);
            c.guest.submit(List.of(c.guest.header(DISCARD, 0), c.guest.segments(new long[] {0, 8, 0}), c.guest.status()));
            c.guest.submit(List.of(c.guest.header(WRITE_ZEROES, 0), c.guest.segments(new long[] {8, 8, 0}), c.guest.status()));
            c.submit(IN, DISK / 512, c.writable(512)); // past the end: IOERR
            c.guest.submit(List.of(c.guest.header(IN, 0))); // no status byte: dropped
            c.submit(IN, 0, c.writable(1024));
            c.submit(IN, 2, c.writable(1024));
            c.kick.write(1);
            HoldingWorker.await("both reads are held", () -> c.worker().holding == 2);

            QueueStatistics held = queue();
            assertEquals(2, held.inFlight());
            assertEquals(1, held.requests(RequestKind.READ, RequestStatus.IOERR));
            assertEquals(0, held.requests(RequestKind.READ, RequestStatus.OK));
            assertEquals(1, held.requests(RequestKind.WRITE, RequestStatus.OK));
            assertEquals(1, held.requests(RequestKind.FLUSH, RequestStatus.OK));
            assertEquals(1, held.requests(RequestKind.GET_ID, RequestStatus.OK));
            assertEquals(1, held.requests(RequestKind.UNKNOWN, RequestStatus.UNSUPP));
            assertEquals(1, held.requests(RequestKind.DISCARD, RequestStatus.OK));
            assertEquals(1, held.requests(RequestKind.WRITE_ZEROES, RequestStatus.OK));
            assertEquals(7, held.completed());
            assertEquals(1, held.dropped());
            assertEquals(0, held.bytesRead());
            assertEquals(4096, held.bytesWritten());

            c.worker().gate.write(1);
            HoldingWorker.await("the held reads complete", () -> queue().inFlight() == 0);
            QueueStatistics done = queue();
            assertEquals(2, done.requests(RequestKind.READ, RequestStatus.OK));
            assertEquals(2048, done.bytesRead());
            assertEquals(9, done.completed());
            assertEquals(3, done.latency(LatencyClass.READ).count());
            assertEquals(1, done.latency(LatencyClass.WRITE).count());
            assertEquals(5, done.latency(LatencyClass.OTHER).count(), "flush, get-id, unknown, discard, write-zeroes");
            assertEquals(0, disk.statistics().queues().get(0).completed(), "queue 0 never ran");
            assertEquals(9, disk.statistics().total().completed());
        }
    }

    @Test
    void aNewConnectionsQueueContinuesTheSameCounters() throws Exception {
        try (Connection first = new Connection()) {
            first.submit(OUT, 0, DriverBuffer.readable(first.guest.data(512), 512));
            first.submit(FLUSH, 0);
            first.kick.write(1);
            HoldingWorker.await("both complete", () -> queue().completed() == 2);
        }
        try (Connection second = new Connection()) {
            second.submit(IN, 0, second.writable(4096));
            second.kick.write(1);
            HoldingWorker.await("the read is held", () -> second.worker().holding == 1);
            assertEquals(1, queue().inFlight());
            second.worker().gate.write(1);
            HoldingWorker.await("the read completes", () -> queue().completed() == 3);
        }
        QueueStatistics q = queue();
        assertEquals(1, q.requests(RequestKind.WRITE));
        assertEquals(1, q.requests(RequestKind.FLUSH));
        assertEquals(1, q.requests(RequestKind.READ));
        assertEquals(512, q.bytesWritten());
        assertEquals(4096, q.bytesRead());
        assertEquals(0, q.inFlight());
        String line = disk.stats().toString();
        assertTrue(line.contains("reads=1 writes=1 flushes=1 "), line);
    }
}
