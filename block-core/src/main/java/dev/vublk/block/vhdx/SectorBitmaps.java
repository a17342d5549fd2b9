package dev.vublk.block.vhdx;

import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Sector bitmap pages of a differencing disk, cached by file offset. A page is never changed in
 * place: an update builds a new array, logs it, then swaps it in, so a lock-free reader sees the
 * old or the new page whole. Bit {@code n} of the chunk is bit {@code n % 8} of byte {@code n / 8}.
 */
final class SectorBitmaps {
    private static final int MAX_CACHED_PAGES = 4096;
    private static final int BITS_PER_PAGE = Layout.LOG_SECTOR * 8;

    private final NativeFile file;
    private final ConcurrentHashMap<Long, byte[]> pages = new ConcurrentHashMap<>();

    SectorBitmaps(NativeFile file) {
        this.file = file;
    }

    byte[] page(long pageOffset) throws IOException {
        byte[] p = pages.get(pageOffset);
        if (p == null) {
            p = file.readBytes(pageOffset, Layout.LOG_SECTOR);
            if (pages.size() >= MAX_CACHED_PAGES) {
                pages.clear(); // crude bound; pages are re-read on demand
            }
            pages.putIfAbsent(pageOffset, p);
        }
        return p;
    }

    void replace(long pageOffset, byte[] page) {
        pages.put(pageOffset, page);
    }

    /**
     * Counts how many bits from {@code firstBit} (at most {@code max}) share the first bit's value.
     * The sign carries that value: positive for ones (present here), negative for zeros.
     */
    long run(long bitmapOffset, long firstBit, long max) throws IOException {
        boolean value = false;
        long n = 0;
        while (n < max) {
            long bit = firstBit + n;
            byte[] p = page(bitmapOffset + bit / BITS_PER_PAGE * Layout.LOG_SECTOR);
            int inPage = (int) (bit % BITS_PER_PAGE);
            int b = p[inPage >>> 3] & 0xff;
            if ((inPage & 7) == 0 && max - n >= 8 && (b == 0 || b == 0xff)) {
                boolean v = b == 0xff;
                if (n == 0) {
                    value = v;
                } else if (v != value) {
                    break;
                }
                n += 8;
                continue;
            }
            boolean v = (b >>> (inPage & 7) & 1) != 0;
            if (n == 0) {
                value = v;
            } else if (v != value) {
                break;
            }
            n++;
        }
        return value ? n : -n;
    }

    /** New page contents with bits {@code [from, from+count)} of the page set to {@code value}. */
    static byte[] withBits(byte[] page, int from, int count, boolean value) {
        byte[] copy = page.clone();
        for (int bit = from; bit < from + count; bit++) {
            if (value) {
                copy[bit >>> 3] |= (byte) (1 << (bit & 7));
            } else {
                copy[bit >>> 3] &= (byte) ~(1 << (bit & 7));
            }
        }
        return copy;
    }

    static int bitsPerPage() {
        return BITS_PER_PAGE;
    }
}
