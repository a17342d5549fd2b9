package dev.vublk.block.qcow2;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The host ranges one queue is writing in place right now. A cluster freed by discard, zeroing
 * or shrinking may still be the target of such a write, planned before the L2 entry changed; the
 * flusher keeps the free pending while any queue's range overlaps it, so the cluster cannot be
 * reallocated and then receive the late write.
 *
 * <p>Ranges are added by the owning queue thread under the metadata lock (read or write), or
 * during an optimistic read that is validated after the range is added (and undone when it
 * fails), which is what makes them visible to a flusher holding the write lock: a write found
 * through an L2 entry is registered before that entry can change. Removal needs no lock: a
 * flusher seeing a range a moment too long only defers a free to the next flush.
 */
final class InflightWrites {
    private static final long FREE = -1;

    /** Slot i is {@code [start, end)} at {@code 2i, 2i+1}; start FREE when unused. */
    private volatile AtomicLongArray ranges = emptyRanges(16);
    private int[] freeSlots = initialFree(16);
    private int freeCount = 16;
    private int lastSlot = -1;

    private static AtomicLongArray emptyRanges(int slots) {
        AtomicLongArray a = new AtomicLongArray(2 * slots);
        for (int i = 0; i < slots; i++) {
            a.set(2 * i, FREE);
        }
        return a;
    }

    private static int[] initialFree(int slots) {
        int[] free = new int[slots];
        for (int i = 0; i < slots; i++) {
            free[i] = slots - 1 - i;
        }
        return free;
    }

    /**
     * Registers {@code [start, end)}: appended to slot {@code extend} when that range ends at
     * {@code start}, otherwise in a new slot. Owner thread, metadata lock held.
     */
    void add(int extend, long start, long end) {
        AtomicLongArray r = ranges;
        if (extend >= 0 && r.get(2 * extend) != FREE && r.get(2 * extend + 1) == start) {
            r.set(2 * extend + 1, end);
            lastSlot = extend;
            return;
        }
        if (freeCount == 0) {
            grow();
            r = ranges;
        }
        int s = freeSlots[--freeCount];
        r.set(2 * s + 1, end);
        r.set(2 * s, start);
        lastSlot = s;
    }

    /**
     * Takes back the last {@link #add}{@code (extend, start, ...)}: the slot it extended ends at
     * {@code start} again, or the slot it took is free again. Owner thread.
     */
    void undoAdd(int extend, long start) {
        if (lastSlot == extend) {
            ranges.set(2 * extend + 1, start); // a new slot never equals extend, which was in use
        } else {
            remove(lastSlot);
        }
        lastSlot = -1;
    }

    /** The slot the last {@link #add} used. */
    int lastSlot() {
        return lastSlot;
    }

    /** The write in {@code slot} completed; owner thread. */
    void remove(int slot) {
        if (slot < 0) {
            return;
        }
        ranges.set(2 * slot, FREE);
        freeSlots[freeCount++] = slot;
    }

    /** Whether a registered write overlaps {@code [start, end)}; metadata write lock held. */
    boolean overlaps(long start, long end) {
        AtomicLongArray r = ranges;
        for (int i = 0; i < r.length(); i += 2) {
            long s = r.get(i);
            if (s != FREE && s < end && start < r.get(i + 1)) {
                return true;
            }
        }
        return false;
    }

    private void grow() {
        AtomicLongArray old = ranges;
        int slots = old.length() / 2;
        AtomicLongArray bigger = emptyRanges(slots * 2);
        for (int i = 0; i < old.length(); i++) {
            bigger.set(i, old.get(i));
        }
        int[] free = new int[slots * 2];
        for (int i = 0; i < slots; i++) {
            free[i] = 2 * slots - 1 - i;
        }
        freeSlots = free;
        freeCount = slots;
        ranges = bigger;
    }
}
