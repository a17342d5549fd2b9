package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.BlkRequestType.IN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockWorker;
import dev.vublk.uring.EventFd;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeException;
import dev.vublk.vhost.TestVrings;
import dev.vublk.vhost.Vring;
import dev.vublk.virtqueue.testing.DriverBuffer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A worker whose storage keeps an operation on the ring for itself, as a network store keeps a
 * socket receive or an eventfd read standing: the queue must still stop, after a clean stop and
 * after a failure, by asking the worker to end it ({@link BlockWorker#stop}) rather than waiting
 * for a ring that never drains.
 */
class BlkQueueStandingOperationTest {
    /** Completes requests at once; keeps a read of its own eventfd standing until {@link #stop}. */
    static final class StandingWorker implements BlockWorker {
        final EventFd standing;
        private final Arena arena = Arena.ofShared();
        private final MemorySegment buffer = arena.allocate(8, 8);
        private final long faultOffset;
        private boolean stopping;
        volatile boolean armed;
        volatile int stops;
        volatile boolean closed;
        volatile boolean closedWhileArmed;

        StandingWorker(IoUring ring, long faultOffset) {
            this.faultOffset = faultOffset;
            try {
                standing = EventFd.create();
                ring.read(standing.fd(), buffer.address(), 8, 0, this::ended, 0);
            } catch (NativeException e) {
                throw new IllegalStateException(e);
            }
            armed = true;
        }

        private void ended(long tag, int result) {
            armed = false; // not re-armed: it only ends when stop() asked
        }

        @Override
        public void read(long offset, IoVecArray buffers, IoCompletion done, long tag) {
            if (offset == faultOffset) {
                throw new InternalError("a fault occurred in an unsafe memory access (injected)");
            }
            done.complete(tag, (int) buffers.totalBytes());
        }

        @Override public void write(long offset, IoVecArray buffers, IoCompletion done, long tag) { done.complete(tag, 0); }

        @Override public void flush(IoCompletion done, long tag) { done.complete(tag, 0); }

        @Override public void discard(long offset, long length, IoCompletion done, long tag) { done.complete(tag, 0); }

        @Override public void writeZeroes(long offset, long length, boolean unmap, IoCompletion done, long tag) { done.complete(tag, 0); }

        @Override
        public void stop() {
            stops++;
            if (!stopping) {
                stopping = true;
                try {
                    standing.write(1);
                } catch (NativeException e) {
                    throw new IllegalStateException(e);
                }
            }
        }

        @Override
        public void close() {
            closedWhileArmed = armed;
            closed = true;
            standing.close();
            arena.close();
        }
    }

    private static void stopsWithin(BlkDevice device, Vring vring) throws Exception {
        CompletableFuture<Void> stopped = CompletableFuture.runAsync(() -> device.stopQueue(vring));
        stopped.get(30, TimeUnit.SECONDS); // a hang guard, not a timing: without stop() it never returns
    }

    private static void run(long faultOffset, long sector) throws Exception {
        StandingWorker[] worker = new StandingWorker[1];
        BlkDevice device = new BlkDevice(new FakeImage(1 << 20, false, ring -> worker[0] = new StandingWorker(ring, faultOffset)),
                new BlkDeviceOptions(1, 8, "s", 512, true));
        try (BlkGuest guest = new BlkGuest(8, 4 << 20)) {
            EventFd kick = EventFd.create();
            Vring vring = TestVrings.configured(0, guest.driver, kick, EventFd.create().fd(), EventFd.create(EventFd.EFD_NONBLOCK).fd());
            try {
                device.startQueue(vring, guest.mock.memory());
                guest.submit(List.of(guest.header(IN, sector), DriverBuffer.writable(guest.data(512), 512), guest.status()));
                kick.write(1);
                HoldingWorker.await("the worker was made", () -> worker[0] != null);
                stopsWithin(device, vring);
                StandingWorker w = worker[0];
                assertTrue(w.stops >= 1, "the worker was never asked to stop");
                assertTrue(w.closed, "the worker was not closed");
                assertFalse(w.closedWhileArmed, "closed while its standing read was still on the ring");
            } finally {
                device.stopQueue(vring);
                TestVrings.release(vring);
            }
        }
    }

    @Test
    void aStoppingQueueEndsItsWorkersStandingOperationAndDrains() throws Exception {
        run(-1, 0);
    }

    @Test
    void aFailedQueueEndsItsWorkersStandingOperationAndDrains() throws Exception {
        run(0, 0); // the first read faults: the queue fails and drains
    }
}
