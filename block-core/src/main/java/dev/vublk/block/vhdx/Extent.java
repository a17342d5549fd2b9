package dev.vublk.block.vhdx;

import dev.vublk.block.storage.Storage;

/**
 * Where one piece of a guest range lives, filled in by a lookup: a mutable holder each queue
 * worker reuses, so resolving a request through the BAT (and the parent chain) allocates nothing.
 */
final class Extent {
    /** The piece is at {@link #hostOffset} in {@link #storage}. */
    static final int DATA = 0;
    /** The piece reads as zeros. */
    static final int ZERO = 1;
    /** The piece is not in this layer: the parent's (only from a single layer's lookup). */
    static final int PARENT = 2;

    int kind;
    long length;
    /** Set by the image whose data file holds the piece (the lookup itself knows offsets only). */
    Storage storage;
    long hostOffset;

    void data(long length, long hostOffset) {
        this.kind = DATA;
        this.length = length;
        this.storage = null;
        this.hostOffset = hostOffset;
    }

    void zero(long length) {
        set(ZERO, length);
    }

    void parent(long length) {
        set(PARENT, length);
    }

    private void set(int kind, long length) {
        this.kind = kind;
        this.length = length;
        this.storage = null;
        this.hostOffset = 0;
    }
}
