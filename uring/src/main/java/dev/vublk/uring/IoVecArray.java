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

    /**
     * All of the address space as one segment, so bytes can be copied between absolute addresses
     * without a segment (or a lambda) per buffer: the helpers below sit on per-request paths
     * (zero fill, bounce copies), which must not allocate.
     */
    private static final MemorySegment ALL = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);
    private static final int ZERO_CHUNK = 64 << 10;
    private static final MemorySegment ZEROS = Arena.global().allocate(ZERO_CHUNK, 4096);
    private static final int COPY_OUT = 0, COPY_IN = 1, ZERO = 2;

    /** Copies {@code length} bytes starting {@code offset} bytes into the buffers to {@code dst}. */
    public void copyTo(long offset, MemorySegment dst, long dstOffset, long length) {
        walk(COPY_OUT, offset, length, dst, dstOffset);
    }

    /** Copies {@code length} bytes from {@code src} into the buffers, from {@code offset} on. */
    public void copyFrom(MemorySegment src, long srcOffset, long offset, long length) {
        walk(COPY_IN, offset, length, src, srcOffset);
    }

    /** Zeroes {@code length} bytes of the buffers from {@code offset} on. */
    public void zero(long offset, long length) {
        walk(ZERO, offset, length, null, 0);
    }

    /**
     * Whether every buffer piece of bytes {@code [offset, offset + length)} starts and ends on an
     * {@code alignment} boundary (a power of two): what O_DIRECT asks of memory.
     */
    public boolean aligned(long offset, long length, int alignment) {
        long mask = alignment - 1;
        long skip = offset;
        long left = length;
        for (int i = 0; i < count && left > 0; i++) {
            long n = length(i);
            if (skip >= n) {
                skip -= n;
                continue;
            }
            long take = Math.min(n - skip, left);
            if (((address(i) + skip) & mask) != 0 || (take & mask) != 0) {
                return false;
            }
            left -= take;
            skip = 0;
        }
        return true;
    }

    private void walk(int op, long offset, long length, MemorySegment other, long otherOffset) {
        long skip = offset;
        long pos = 0;
        for (int i = 0; i < count && pos < length; i++) {
            long len = length(i);
            if (skip >= len) {
                skip -= len;
                continue;
            }
            long n = Math.min(len - skip, length - pos);
            long addr = address(i) + skip;
            switch (op) {
                case COPY_OUT -> MemorySegment.copy(ALL, addr, other, otherOffset + pos, n);
                case COPY_IN -> MemorySegment.copy(other, otherOffset + pos, ALL, addr, n);
                default -> {
                    for (long z = 0; z < n; z += ZERO_CHUNK) {
                        MemorySegment.copy(ZEROS, 0, ALL, addr + z, Math.min(ZERO_CHUNK, n - z));
                    }
                }
            }
            pos += n;
            skip = 0;
        }
        if (pos < length) {
            throw new IllegalArgumentException("range past the end of the buffers");
        }
    }
}
