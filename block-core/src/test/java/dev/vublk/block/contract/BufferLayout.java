package dev.vublk.block.contract;

import dev.vublk.uring.IoVecArray;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * How a request's guest memory is laid out: {@code skew} bytes past a page boundary, cut into
 * iovecs of the given lengths (the last one takes the rest). Guests hand the device any layout;
 * the contract must hold for all of them, aligned or not.
 *
 * @param skew   bytes from a 4096-aligned address to the first byte
 * @param pieces lengths of the leading iovecs; the remainder forms one more
 */
record BufferLayout(int skew, int... pieces) {
    /** One page-aligned iovec. */
    static final BufferLayout ONE = new BufferLayout(0);
    /** Aligned, in sector multiples of uneven sizes. */
    static final BufferLayout SECTORS = new BufferLayout(0, 512, 3584, 8192, 1024, 512, 4096);
    /** Neither addresses nor lengths are sector multiples. */
    static final BufferLayout ODD = new BufferLayout(7, 100, 1000, 3000, 1);
    static final BufferLayout ODD_TOO = new BufferLayout(511, 1, 511, 4097);

    /** Memory of {@code length} bytes placed as this layout says. */
    MemorySegment allocate(Arena arena, int length) {
        return arena.allocate(length + 4096L, 4096).asSlice(skew, length);
    }

    /** The iovecs over {@code seg}: the pieces that fit, then the rest. */
    IoVecArray iovecs(Arena arena, MemorySegment seg) {
        IoVecArray iov = new IoVecArray(arena, pieces.length + 1);
        long at = 0, len = seg.byteSize();
        for (int p : pieces) {
            if (at + p >= len) {
                break;
            }
            iov.add(seg.address() + at, p);
            at += p;
        }
        iov.add(seg.address() + at, len - at);
        return iov;
    }

    @Override
    public String toString() {
        return "buffers at +" + skew + " cut " + java.util.Arrays.toString(pieces);
    }
}
