package dev.vublk.vhost;

import dev.vublk.uring.Fds;
import dev.vublk.uring.MappedRegion;
import dev.vublk.uring.NativeException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The front-end's dirty-page bitmap for live migration (SET_LOG_BASE with LOG_SHMFD): one bit
 * per 4 KiB guest page, page n at byte n/8, bit n%8. The front-end clears bits while queue
 * threads set them, so every mark is an atomic OR on an aligned 64-bit word (on a little-endian
 * host the word's bit n%64 is exactly that byte and bit).
 */
public final class DirtyLog implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DirtyLog.class);
    public static final int PAGE_SHIFT = 12;
    public static final long PAGE_SIZE = 1L << PAGE_SHIFT;
    /** The largest bitmap accepted: 1 GiB covers 32 TiB of guest-physical space. */
    public static final long MAX_BYTES = 1L << 30;
    private static final VarHandle WORD = ValueLayout.JAVA_LONG.varHandle();

    private final MappedRegion mapping;
    private final MemorySegment bits;
    private final long pages;
    private volatile boolean warned;

    private DirtyLog(MappedRegion mapping, MemorySegment bits) {
        if (bits.byteSize() <= 0 || bits.byteSize() % 8 != 0 || bits.address() % 8 != 0) {
            throw new IllegalArgumentException("a dirty log must be whole aligned 64-bit words, not "
                    + bits.byteSize() + " bytes at 0x" + Long.toHexString(bits.address()));
        }
        this.mapping = mapping;
        this.bits = bits;
        this.pages = bits.byteSize() * 8;
    }

    /** A log over memory the caller owns (tests, or a mapping made elsewhere). */
    public static DirtyLog over(MemorySegment bits) {
        return new DirtyLog(null, bits);
    }

    /**
     * Why a SET_LOG_BASE of {@code size} bytes at {@code offset} of a file of {@code fileSize}
     * bytes cannot be used for guest memory ending at {@code guestEnd}, or null when it can.
     */
    static String problem(long size, long offset, long fileSize, long guestEnd) {
        if (size <= 0 || size % 8 != 0 || size > MAX_BYTES) {
            return "log size " + size + " is not a multiple of 8 bytes up to " + MAX_BYTES;
        }
        if (offset < 0 || offset % PAGE_SIZE != 0) {
            return "log offset " + offset + " is not page-aligned";
        }
        if (offset > fileSize || size > fileSize - offset) {
            return "log of " + size + " bytes at " + offset + " reaches past the end of its " + fileSize + "-byte file";
        }
        long needed = bytesFor(guestEnd);
        if (size < needed) {
            return "log of " + size + " bytes cannot cover guest memory up to 0x" + Long.toHexString(guestEnd)
                    + " (" + needed + " bytes needed)";
        }
        return null;
    }

    /** Bitmap bytes covering guest-physical addresses [0, guestEnd). */
    static long bytesFor(long guestEnd) {
        long pages = (guestEnd + PAGE_SIZE - 1) >>> PAGE_SHIFT;
        return (pages + 7) >>> 3;
    }

    /** Maps the front-end's log; the caller validated it with {@link #problem} and closes {@code fd}. */
    static DirtyLog map(int fd, long size, long offset) throws NativeException {
        MappedRegion m = MappedRegion.map(fd, offset, size, true);
        return new DirtyLog(m, m.segment());
    }

    /** {@link #problem} for a descriptor, using its real size. */
    static String fileProblem(int fd, long size, long offset, long guestEnd) throws NativeException {
        return problem(size, offset, Fds.fileSize(fd), guestEnd);
    }

    /** Guest pages this log covers. */
    public long pages() {
        return pages;
    }

    /**
     * Marks every page that {@code [gpa, gpa+length)} touches. Call it after the bytes are in
     * guest memory: a page marked earlier could be copied before the write lands. Pages past the
     * log are skipped (with one warning per log), never written.
     */
    public void mark(long gpa, long length) {
        if (length <= 0) {
            return;
        }
        long end = gpa + length - 1;
        if (gpa < 0 || end < gpa) {
            warnOutside(gpa, length);
            return;
        }
        long first = gpa >>> PAGE_SHIFT;
        long last = end >>> PAGE_SHIFT;
        if (last >= pages) {
            warnOutside(gpa, length);
            if (first >= pages) {
                return;
            }
            last = pages - 1;
        }
        for (long word = first >>> 6; word <= last >>> 6; word++) {
            long lo = Math.max(first, word << 6) & 63;
            long hi = Math.min(last, (word << 6) | 63) & 63;
            long mask = (-1L << lo) & (-1L >>> (63 - hi));
            long unused = (long) WORD.getAndBitwiseOr(bits, word << 3, mask);
        }
    }

    /** Whether the page holding {@code gpa} is marked (false outside the log). */
    public boolean isDirty(long gpa) {
        long page = gpa >>> PAGE_SHIFT;
        if (gpa < 0 || page >= pages) {
            return false;
        }
        return (bits.get(ValueLayout.JAVA_BYTE, page >>> 3) & (1 << (page & 7))) != 0;
    }

    private void warnOutside(long gpa, long length) {
        if (!warned) {
            warned = true;
            LOG.warn("dirty log of {} pages cannot mark {} bytes at guest address 0x{}; pages past it are not logged",
                    pages, length, Long.toHexString(gpa));
        }
    }

    @Override
    public void close() {
        if (mapping != null) {
            mapping.close();
        }
    }
}
