package dev.vublk.vhost.blk;

import dev.vublk.block.BlockWorker;
import dev.vublk.uring.EventFd;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * A worker for queue-thread tests that holds every read in flight on the queue's ring: while it
 * holds any, a read of its gate eventfd is pending there, into a buffer of its own. Writing the
 * gate completes every read held so far. A read at {@link #faultOffset} throws what a guest
 * memfd truncated under the backend raises. Other operations complete at once.
 */
final class HoldingWorker implements BlockWorker {
    final EventFd gate;
    private final IoUring ring;
    private final long faultOffset;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment gateBuffer = arena.allocate(8, 8);
    private final List<IoCompletion> held = new ArrayList<>();
    private final List<Long> tags = new ArrayList<>();
    private boolean gateArmed;
    volatile int reads;
    volatile int holding;
    volatile int maxHeld;
    volatile int completed;
    volatile boolean closed;
    /** Whether {@link #close} ran while the gate read was still in flight on the ring. */
    volatile boolean closedWithReadInFlight;

    HoldingWorker(IoUring ring, long faultOffset) {
        this.ring = ring;
        this.faultOffset = faultOffset;
        try {
            this.gate = EventFd.create();
        } catch (NativeException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Polls {@code condition} until it holds; fails after a generous deadline (a hang guard, not a timing). */
    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("never happened: " + what);
            }
            Thread.sleep(5);
        }
    }

    @Override
    public void read(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        reads++;
        if (offset == faultOffset) {
            throw new InternalError("a fault occurred in an unsafe memory access (injected)");
        }
        held.add(done);
        tags.add(tag);
        holding = held.size();
        maxHeld = Math.max(maxHeld, held.size());
        if (!gateArmed) {
            try {
                ring.read(gate.fd(), gateBuffer.address(), 8, 0, (t, r) -> release(), 0);
            } catch (NativeException e) {
                throw new IllegalStateException(e);
            }
            gateArmed = true;
        }
    }

    private void release() {
        gateArmed = false;
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
        closedWithReadInFlight = gateArmed;
        closed = true;
        arena.close(); // as a real worker frees its bounce buffers
    }
}
