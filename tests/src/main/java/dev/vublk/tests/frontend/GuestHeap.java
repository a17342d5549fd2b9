package dev.vublk.tests.frontend;

import java.util.Map;
import java.util.TreeMap;

/**
 * First-fit allocator of guest-physical ranges inside one region, with coalescing frees: where
 * the frontend puts rings, request headers, data buffers and status bytes. Thread-safe.
 */
final class GuestHeap {
    private final long start;
    private final long end;
    /** Free ranges: start to length, never adjacent (merged on free). */
    private final TreeMap<Long, Long> free = new TreeMap<>();

    GuestHeap(long start, long size) {
        this.start = start;
        this.end = start + size;
        free.put(start, size);
    }

    /** A range of {@code length} bytes aligned to {@code alignment} (a power of two), or -1. */
    synchronized long allocate(long length, long alignment) {
        if (length <= 0 || Long.bitCount(alignment) != 1) {
            throw new IllegalArgumentException("length " + length + ", alignment " + alignment);
        }
        for (Map.Entry<Long, Long> e : free.entrySet()) {
            long from = e.getKey();
            long to = from + e.getValue();
            long at = (from + alignment - 1) & -alignment;
            if (at + length <= to) {
                free.remove(from);
                if (at > from) {
                    free.put(from, at - from);
                }
                if (at + length < to) {
                    free.put(at + length, to - at - length);
                }
                return at;
            }
        }
        return -1;
    }

    synchronized void free(long gpa, long length) {
        if (gpa < start || gpa + length > end) {
            throw new IllegalArgumentException(String.format("0x%x+%d is not from this heap", gpa, length));
        }
        long from = gpa;
        long len = length;
        Map.Entry<Long, Long> before = free.floorEntry(gpa);
        if (before != null) {
            if (before.getKey() + before.getValue() > gpa) {
                throw new IllegalStateException(String.format("double free of 0x%x", gpa));
            }
            if (before.getKey() + before.getValue() == gpa) {
                from = before.getKey();
                len += before.getValue();
                free.remove(before.getKey());
            }
        }
        Long after = free.ceilingKey(gpa);
        if (after != null && after < gpa + length) {
            throw new IllegalStateException(String.format("double free of 0x%x", gpa));
        }
        if (after != null && after == gpa + length) {
            len += free.remove(after);
        }
        free.put(from, len);
    }

    boolean owns(long gpa) {
        return gpa >= start && gpa < end;
    }

    synchronized long freeBytes() {
        return free.values().stream().mapToLong(Long::longValue).sum();
    }
}
