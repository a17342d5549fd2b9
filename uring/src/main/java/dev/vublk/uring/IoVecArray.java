package dev.vublk.uring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A reusable native {@code struct iovec[]} whose entries point at arbitrary native memory (guest
 * RAM): vectored I/O reads and writes straight into it. {@link IoUring} may advance the entries in
 * place to finish a short transfer, so an array must stay untouched while its operation runs.
 */
public final class IoVecArray {
    public static final int IOV_MAX = 1024;
    private static final long ENTRY = 16;

    private final MemorySegment entries;
    private final int capacity;
    private int count;
    private long totalBytes;

    public IoVecArray(int capacity) {
        this(Arena.ofAuto(), capacity);
    }

    public IoVecArray(Arena arena, int capacity) {
        if (capacity < 1 || capacity > IOV_MAX) {
            throw new IllegalArgumentException("iovec capacity " + capacity);
        }
        this.capacity = capacity;
        this.entries = arena.allocate(capacity * ENTRY, 8);
    }

    public void clear() {
        count = 0;
        totalBytes = 0;
    }

    /** Appends a buffer; returns false when the array is full. */
    public boolean add(long address, long length) {
        if (count == capacity) {
            return false;
        }
        entries.set(ValueLayout.JAVA_LONG, count * ENTRY, address);
        entries.set(ValueLayout.JAVA_LONG, count * ENTRY + 8, length);
        count++;
        totalBytes += length;
        return true;
    }

    /**
     * Replaces this array's entries with the bytes {@code [offset, offset + length)} of
     * {@code source}'s buffers: how one request is split over several host ranges.
     */
    public void setSlice(IoVecArray source, long offset, long length) {
        clear();
        long skip = offset;
        long left = length;
        for (int i = 0; i < source.count && left > 0; i++) {
            long base = source.address(i);
            long len = source.length(i);
            if (skip >= len) {
                skip -= len;
                continue;
            }
            long take = Math.min(len - skip, left);
            if (!add(base + skip, take)) {
                throw new IllegalStateException("iovec slice needs more than " + capacity + " entries");
            }
            left -= take;
            skip = 0;
        }
        if (left > 0) {
            throw new IllegalArgumentException("slice past the end of the source buffers");
        }
    }

    public int count() { return count; }

    public int capacity() { return capacity; }

    public long totalBytes() { return totalBytes; }

    public long address(int i) { return entries.get(ValueLayout.JAVA_LONG, i * ENTRY); }

    public long length(int i) { return entries.get(ValueLayout.JAVA_LONG, i * ENTRY + 8); }

    /** The native address of the first entry, for the kernel. */
    public long nativeAddress() { return entries.address(); }

    /** Copies {@code length} bytes starting {@code offset} bytes into the buffers to {@code dst}. */
    public void copyTo(long offset, MemorySegment dst, long dstOffset, long length) {
        walk(offset, length, (addr, pos, n) ->
                MemorySegment.copy(MemorySegment.ofAddress(addr).reinterpret(n), 0, dst, dstOffset + pos, n));
    }

    /** Copies {@code length} bytes from {@code src} into the buffers, from {@code offset} on. */
    public void copyFrom(MemorySegment src, long srcOffset, long offset, long length) {
        walk(offset, length, (addr, pos, n) ->
                MemorySegment.copy(src, srcOffset + pos, MemorySegment.ofAddress(addr).reinterpret(n), 0, n));
    }

    /** Zeroes {@code length} bytes of the buffers from {@code offset} on. */
    public void fill(long offset, long length, byte value) {
        walk(offset, length, (addr, pos, n) -> MemorySegment.ofAddress(addr).reinterpret(n).fill(value));
    }

    private interface Piece {
        void accept(long address, long position, long length);
    }

    private void walk(long offset, long length, Piece piece) {
        long skip = offset;
        long pos = 0;
        for (int i = 0; i < count && pos < length; i++) {
            long len = length(i);
            if (skip >= len) {
                skip -= len;
                continue;
            }
            long n = Math.min(len - skip, length - pos);
            piece.accept(address(i) + skip, pos, n);
            pos += n;
            skip = 0;
        }
        if (pos < length) {
            throw new IllegalArgumentException("range past the end of the buffers");
        }
    }
}
