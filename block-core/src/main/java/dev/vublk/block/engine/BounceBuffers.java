package dev.vublk.block.engine;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;

/**
 * The O_DIRECT bounce buffers of one queue's worker, under a fixed budget. With O_DIRECT the
 * kernel refuses guest memory that misses the device's alignment, so such a transfer is copied
 * through an aligned buffer of ours. Buffers are reused across requests, and all of them
 * together, idle or on loan, never exceed {@link #BUDGET_BYTES}: a guest sending large or many
 * misaligned requests cannot grow the process. A transfer larger than the whole budget is
 * refused (its request fails with IOERR); one that fits but finds the budget on loan waits, in
 * order, for buffers to come back ({@link #borrow}). The budget covers 16 concurrent bounced
 * transfers of 1 MiB (the config space's size_max), or one of 16 MiB. Copy-on-write clusters
 * come from the same budget.
 *
 * <p>One queue thread uses an instance; {@link #close} runs on that thread once its ring has
 * drained, so no buffer is freed while the kernel may still use it.
 */
public final class BounceBuffers implements AutoCloseable {
    /** Bytes one queue may hold in bounce buffers. */
    public static final long BUDGET_BYTES = 16L << 20;
    /** Buffers are made in multiples of this, so nearby sizes reuse each other's buffers. */
    public static final long GRANULE = 64 << 10;
    /** Alignment of every buffer: enough for any O_DIRECT device. */
    public static final int ALIGNMENT = 4096;

    /** A buffer on loan from {@link #take}; give it back with {@link #give}. */
    public static final class Buffer {
        private final Arena arena;
        private final MemorySegment segment;

        private Buffer(Arena arena, MemorySegment segment) {
            this.arena = arena;
            this.segment = segment;
        }

        /** At least the bytes asked for, {@link #ALIGNMENT}-aligned. */
        public MemorySegment segment() {
            return segment;
        }
    }

    /** Receives a buffer once the budget has room for it. */
    interface Borrower {
        /** Bytes wanted. */
        long bounceBytes();

        /** The buffer, on loan until {@link #give}; may run inside {@link #give} of another one. */
        void lend(Buffer b);
    }

    private final ArrayList<Buffer> idle = new ArrayList<>();
    private final ArrayDeque<Borrower> waiting = new ArrayDeque<>();
    private boolean serving;
    private long allocated;

    /**
     * A buffer of at least {@code bytes}: the smallest idle one that fits, else a new one, after
     * freeing idle buffers if the budget needs the room.
     *
     * @return the buffer, or null when even an empty pool could not hold it within the budget
     */
    public Buffer take(long bytes) {
        int best = -1;
        for (int i = 0; i < idle.size(); i++) {
            long size = idle.get(i).segment.byteSize();
            if (size >= bytes && (best < 0 || size < idle.get(best).segment.byteSize())) {
                best = i;
            }
        }
        if (best >= 0) {
            return idle.remove(best);
        }
        long size = Math.max(GRANULE, (bytes + GRANULE - 1) / GRANULE * GRANULE);
        if (bytes <= 0 || size > BUDGET_BYTES) {
            return null;
        }
        while (allocated + size > BUDGET_BYTES && !idle.isEmpty()) {
            free(idle.removeLast());
        }
        if (allocated + size > BUDGET_BYTES) {
            return null; // the rest is on loan to transfers in flight
        }
        Arena arena = Arena.ofShared();
        allocated += size;
        return new Buffer(arena, arena.allocate(size, ALIGNMENT));
    }

    /**
     * Lends {@code who} a buffer now or, when the budget is on loan, once enough comes back;
     * borrowers are served in order, so a large one is not starved by small ones.
     *
     * @return false when the size can never fit the budget (nothing is lent then)
     */
    boolean borrow(Borrower who) {
        long bytes = who.bounceBytes();
        if (bytes <= 0 || bytes > BUDGET_BYTES) {
            return false;
        }
        Buffer b = waiting.isEmpty() ? take(bytes) : null;
        if (b == null) {
            waiting.add(who);
        } else {
            who.lend(b);
        }
        return true;
    }

    /** Borrowers waiting for room. */
    int waiting() {
        return waiting.size();
    }

    /** Returns a buffer for reuse; its transfer has completed. Waiting borrowers are served. */
    public void give(Buffer b) {
        idle.add(b);
        if (serving) {
            return; // the loop below, further up the stack, sees this buffer
        }
        serving = true;
        try {
            while (!waiting.isEmpty()) {
                Buffer next = take(waiting.peek().bounceBytes());
                if (next == null) {
                    break;
                }
                waiting.poll().lend(next);
            }
        } finally {
            serving = false;
        }
    }

    /** Bytes held, idle and on loan: never more than {@link #BUDGET_BYTES}. */
    public long allocatedBytes() {
        return allocated;
    }

    private void free(Buffer b) {
        allocated -= b.segment.byteSize();
        b.arena.close();
    }

    /**
     * Frees every buffer. Buffers still on loan are left alone (only possible if the ring did
     * not drain, in which case the kernel may still write into them).
     */
    @Override
    public void close() {
        for (Buffer b : idle) {
            free(b);
        }
        idle.clear();
    }
}
