package dev.vublk.block.vhdx;

import dev.vublk.uring.NativeFile;

/**
 * Where one piece of a guest range lives, filled in by a lookup: a mutable holder each queue
 * worker reuses, so resolving a request through the BAT (and the parent chain) allocates nothing.
 */
final class Extent {
    /** The piece is at {@link #hostOffset} in {@link #file}. */
    static final int DATA = 0;
    /** The piece reads as zeros. */
    static final int ZERO = 1;
    /** The piece is not in this layer: the parent's (only from a single layer's lookup). */
    static final int PARENT = 2;

    int kind;
    long length;
    NativeFile file;
    long hostOffset;

    void data(long length, NativeFile file, long hostOffset) {
        this.kind = DATA;
        this.length = length;
        this.file = file;
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
        this.file = null;
        this.hostOffset = 0;
    }
}
