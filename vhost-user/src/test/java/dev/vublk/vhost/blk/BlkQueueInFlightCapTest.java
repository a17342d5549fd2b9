package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.BlkRequestType.IN;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * A queue larger than {@link BlkQueueThread#MAX_IN_FLIGHT} with more requests available than
 * that: the worker holds every read until the test opens its gate, so it sees exactly how many
 * the queue started at once; the rest must still be served once those complete.
 */
class BlkQueueInFlightCapTest {
    private static final int QUEUE_SIZE = 2048;
    private static final int REQUESTS = BlkQueueThread.MAX_IN_FLIGHT + 76;

    /** Holds reads until the gate eventfd is written, then completes all it holds. */
    static final class HoldingWorker implements BlockWorker {
        final EventFd gate;
        private final IoUring ring;
        private final Arena arena = Arena.ofShared();
        private final MemorySegment buffer = arena.allocate(8, 8);
        private final List<IoCompletion> held = new ArrayList<>();
        private final List<Long> tags = new ArrayList<>();
        private boolean armed;
        volatile int holding;
        volatile int maxHeld;
        volatile int completed;

        HoldingWorker(IoUring ring) {
            this.ring = ring;
            try {
                this.gate = EventFd.create();
            } catch (NativeException e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        public void read(long offset, IoVecArray buffers, IoCompletion done, long tag) {
            held.add(done);
            tags.add(tag);
            holding = held.size();
            maxHeld = Math.max(maxHeld, held.size());
            if (!armed) {
                armed = true;
                try {
                    ring.read(gate.fd(), buffer.address(), 8, 0, (t, r) -> release(), 0);
                } catch (NativeException e) {
                    throw new IllegalStateException(e);
                }
            }
        }

        private void release() {
            armed = false;
            List<IoCompletion> now = new ArrayList<>(held);
            List<Long> nowTags = new ArrayList<>(tags);
            held.clear();
            tags.clear();
            holding = 0;
            for (int i = 0; i < now.size(); i++) {
                completed++;
                now.get(i).complete(nowTags.get(i), 0);
            }
        }

        @Override public void write(long offset, IoVecArray buffers, IoCompletion done, long tag) { done.complete(tag, 0); }

        @Override public void flush(IoCompletion done, long tag) { done.complete(tag, 0); }

        @Override public void discard(long offset, long length, IoCompletion done, long tag) { done.complete(tag, 0); }

        @Override public void writeZeroes(long offset, long length, boolean unmap, IoCompletion done, long tag) { done.complete(tag, 0); }

        @Override
        public void close() {
            gate.close();
            arena.close();
        }
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("never happened: " + what);
            }
            Thread.sleep(5);
        }
    }

    @Test
    void aLargeQueueStartsAtMostMaxInFlightRequestsAndServesTheRestAfter() throws Exception {
        HoldingWorker[] worker = new HoldingWorker[1];
        BlkDevice device = new BlkDevice(new FakeImage(1 << 20, false, ring -> worker[0] = new HoldingWorker(ring)),
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
                await("the first requests reach the worker", () -> w.holding == BlkQueueThread.MAX_IN_FLIGHT);
                w.gate.write(1);
                await("the requests left in the ring reach the worker", () -> w.holding == REQUESTS - BlkQueueThread.MAX_IN_FLIGHT);
                w.gate.write(1);
                await("every request completes", () -> w.completed == REQUESTS);
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
            }
        }
    }
}
