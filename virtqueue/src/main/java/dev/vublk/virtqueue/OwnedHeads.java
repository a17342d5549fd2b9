package dev.vublk.virtqueue;

/**
 * The heads the device holds: one bit per descriptor index, set while that head is popped and
 * not yet staged as used. A head made available again while owned is a driver bug the queue
 * refuses. Used by the queue's own thread only.
 */
final class OwnedHeads {
    private final long[] bits;

    OwnedHeads(int size) {
        bits = new long[(size + 63) >>> 6];
    }

    boolean contains(int head) {
        return (bits[head >>> 6] & (1L << head)) != 0;
    }

    void add(int head) {
        bits[head >>> 6] |= 1L << head;
    }

    void remove(int head) {
        bits[head >>> 6] &= ~(1L << head);
    }

    int count() {
        int n = 0;
        for (long w : bits) {
            n += Long.bitCount(w);
        }
        return n;
    }
}
