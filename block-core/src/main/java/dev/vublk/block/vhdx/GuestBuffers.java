package dev.vublk.block.vhdx;

import dev.vublk.uring.IoVecArray;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Byte ranges of a guest request's buffers, addressed by position in the request: zero-filling,
 * copying to and from a bounce buffer, and the alignment check O_DIRECT needs. Unlike the
 * general {@link IoVecArray} helpers these make no lambda or segment per call, so they can sit
 * on the per-request path.
 */
final class GuestBuffers {
    /** All of the address space, to copy between absolute addresses without a segment per buffer. */
    private static final MemorySegment ALL = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);
    private static final int ZERO_CHUNK = 64 << 10;
    private static final MemorySegment ZEROS = Arena.global().allocate(ZERO_CHUNK, 4096);

    private GuestBuffers() {}

    /** Zeroes bytes {@code [pos, pos+len)} of the request's buffers. */
    static void zero(IoVecArray b, long pos, long len) {
        long skip = pos;
        long left = len;
        for (int i = 0; i < b.count() && left > 0; i++) {
            long n = b.length(i);
            if (skip >= n) {
                skip -= n;
                continue;
            }
            long take = Math.min(n - skip, left);
            long addr = b.address(i) + skip;
            for (long done = 0; done < take; done += ZERO_CHUNK) {
                MemorySegment.copy(ZEROS, 0, ALL, addr + done, Math.min(ZERO_CHUNK, take - done));
            }
            left -= take;
            skip = 0;
        }
        checkCovered(left);
    }

    /** Copies bytes {@code [pos, pos+len)} of the request's buffers to the start of {@code dst}. */
    static void copyOut(IoVecArray b, long pos, MemorySegment dst, long len) {
        transfer(b, pos, dst, len, true);
    }

    /** Copies the first {@code len} bytes of {@code src} into the request's buffers from {@code pos}. */
    static void copyIn(MemorySegment src, IoVecArray b, long pos, long len) {
        transfer(b, pos, src, len, false);
    }

    private static void transfer(IoVecArray b, long pos, MemorySegment bounce, long len, boolean out) {
        long skip = pos;
        long at = 0;
        for (int i = 0; i < b.count() && at < len; i++) {
            long n = b.length(i);
            if (skip >= n) {
                skip -= n;
                continue;
            }
            long take = Math.min(n - skip, len - at);
            long addr = b.address(i) + skip;
            if (out) {
                MemorySegment.copy(ALL, addr, bounce, at, take);
            } else {
                MemorySegment.copy(bounce, at, ALL, addr, take);
            }
            at += take;
            skip = 0;
        }
        checkCovered(len - at);
    }

    /** Whether every buffer piece of bytes {@code [pos, pos+len)} starts and ends on an {@code align} boundary. */
    static boolean aligned(IoVecArray b, long pos, long len, int align) {
        long mask = align - 1;
        long skip = pos;
        long left = len;
        for (int i = 0; i < b.count() && left > 0; i++) {
            long n = b.length(i);
            if (skip >= n) {
                skip -= n;
                continue;
            }
            long take = Math.min(n - skip, left);
            if (((b.address(i) + skip) & mask) != 0 || (take & mask) != 0) {
                return false;
            }
            left -= take;
            skip = 0;
        }
        return true;
    }

    private static void checkCovered(long left) {
        if (left > 0) {
            throw new IllegalArgumentException("range past the end of the request's buffers");
        }
    }
}
