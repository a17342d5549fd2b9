package dev.vublk.block.vhdx;

import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Sector bitmap pages of a differencing disk, cached per chunk and page so that a lookup is two
 * array reads: no lock, no boxing, and no file read once a page is cached. Pages of every
 * partially present block are loaded at open (within the cache budget), so reads of allocated
 * data do not wait on the file. A page is never changed in place: an update builds a new array,
 * logs it, then swaps it in, so a lock-free reader sees the old or the new page whole. Bit
 * {@code n} of the chunk is bit {@code n % 8} of byte {@code n / 8}.
 */
final class SectorBitmaps {
    static final int PAGES_PER_CHUNK = (int) (Layout.MIB / Layout.LOG_SECTOR);
    private static final int BITS_PER_PAGE = Layout.LOG_SECTOR * 8;

    private final NativeFile file;
    private final int maxPages;
    private volatile AtomicReferenceArray<AtomicReferenceArray<byte[]>> chunks;
    private final AtomicInteger cached = new AtomicInteger();
    private final AtomicLong misses = new AtomicLong();

    /**
     * @param chunkCount sector bitmap blocks of the disk
     * @param maxPages   the most pages kept; beyond it the cache starts over (pages are re-read on demand)
     */
    SectorBitmaps(NativeFile file, long chunkCount, int maxPages) {
        this.file = file;
        this.maxPages = Math.max(1, maxPages);
        this.chunks = new AtomicReferenceArray<>((int) chunkCount);
    }

    /** Makes room for a disk that grew to {@code chunkCount} chunks; called under the metadata lock. */
    void resize(long chunkCount) {
        AtomicReferenceArray<AtomicReferenceArray<byte[]>> old = chunks;
        AtomicReferenceArray<AtomicReferenceArray<byte[]>> grown = new AtomicReferenceArray<>((int) chunkCount);
        for (int i = 0; i < Math.min(old.length(), grown.length()); i++) {
            grown.set(i, old.get(i));
        }
        chunks = grown;
    }

    /** Page {@code pageInChunk} of the chunk's bitmap block at file offset {@code sbOffset}. */
    byte[] page(long chunk, long sbOffset, int pageInChunk) throws IOException {
        AtomicReferenceArray<byte[]> pages = chunks.get((int) chunk);
        byte[] p = pages != null ? pages.get(pageInChunk) : null;
        if (p == null) {
            misses.incrementAndGet();
            p = file.readBytes(sbOffset + (long) pageInChunk * Layout.LOG_SECTOR, Layout.LOG_SECTOR);
            store(chunk, pageInChunk, p, false);
        }
        return p;
    }

    /** Installs a page made durable by the log. */
    void replace(long chunk, int pageInChunk, byte[] page) {
        store(chunk, pageInChunk, page, true);
    }

    private void store(long chunk, int pageInChunk, byte[] page, boolean overwrite) {
        AtomicReferenceArray<AtomicReferenceArray<byte[]>> all = chunks;
        if (cached.get() >= maxPages) {
            // Crude bound: start over. Readers holding the old arrays still see valid pages.
            chunks = all = new AtomicReferenceArray<>(all.length());
            cached.set(0);
        }
        AtomicReferenceArray<byte[]> pages = all.get((int) chunk);
        if (pages == null) {
            all.compareAndSet((int) chunk, null, new AtomicReferenceArray<>(PAGES_PER_CHUNK));
            pages = all.get((int) chunk);
        }
        byte[] before = overwrite ? pages.getAndSet(pageInChunk, page) : pages.compareAndExchange(pageInChunk, null, page);
        if (before == null) {
            cached.incrementAndGet();
        }
    }

    /** Page reads that had to go to the file: what a warm cache keeps at zero. */
    long misses() {
        return misses.get();
    }

    int cachedPages() {
        return cached.get();
    }

    /**
     * Counts how many bits from {@code firstBit} (at most {@code max}) share the first bit's value.
     * The sign carries that value: positive for ones (present here), negative for zeros.
     */
    long run(long chunk, long sbOffset, long firstBit, long max) throws IOException {
        boolean value = false;
        long n = 0;
        byte[] p = null;
        int pageIndex = -1;
        while (n < max) {
            long bit = firstBit + n;
            int want = (int) (bit / BITS_PER_PAGE);
            if (want != pageIndex) {
                p = page(chunk, sbOffset, want);
                pageIndex = want;
            }
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

    /**
     * The bitmap pages of chunk {@code chunk} (bitmap block at {@code sbOffset}) with bits
     * {@code [firstBit, firstBit + count)} set to {@code value}, as log updates: each page taken
     * from {@code base} if it is there, else a fresh zero page ({@code fresh}) or the cached one.
     */
    List<SectorUpdate> changes(long chunk, long sbOffset, long firstBit, long count, boolean value, List<SectorUpdate> base,
                               boolean fresh) throws IOException {
        List<SectorUpdate> out = new ArrayList<>();
        int perPage = bitsPerPage();
        long bit = firstBit;
        long endBit = bit + count;
        while (bit < endBit) {
            int pageInChunk = (int) (bit / perPage);
            long pageOffset = sbOffset + (long) pageInChunk * Layout.LOG_SECTOR;
            int from = (int) (bit % perPage);
            int n = (int) Math.min(perPage - from, endBit - bit);
            byte[] page = null;
            for (SectorUpdate u : base) {
                if (u.fileOffset() == pageOffset) {
                    page = u.data();
                }
            }
            if (page == null) {
                page = fresh ? new byte[Layout.LOG_SECTOR] : page(chunk, sbOffset, pageInChunk);
            }
            out.add(new SectorUpdate(pageOffset, withBits(page, from, n, value)));
            bit += n;
        }
        return out;
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
