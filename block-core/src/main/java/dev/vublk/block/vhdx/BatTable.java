package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The BAT in memory. Entries are read without locks (volatile reads of an atomic array); they are
 * changed only under the metadata lock, and always after the change is durable in the log.
 */
final class BatTable {
    /**
     * The most entries a valid image's BAT has: a 64 TiB differencing disk of 1 MiB blocks and
     * 512-byte sectors (2^26 payload entries, one sector bitmap entry per 4096 of them):
     * 67,125,248 entries, 512 MiB in memory. Disk size, block size and sector size are each
     * checked against the spec before the count is derived; this states the product's ceiling.
     */
    static final long MAX_ENTRIES = BatLayout.of(Layout.MAX_DISK_SIZE, Layout.MIN_BLOCK, 512, true).totalEntries();
    private static final int ENTRIES_PER_PAGE = Layout.LOG_SECTOR / 8;
    private static final int READ_CHUNK = 8 << 20;

    private final BatLayout layout;
    private final long regionOffset;
    private final AtomicLongArray entries;

    private BatTable(BatLayout layout, long regionOffset, AtomicLongArray entries) {
        this.layout = layout;
        this.regionOffset = regionOffset;
        this.entries = entries;
    }

    /** Reads the BAT region; its size is bounded by the region, which lies inside the file. */
    static BatTable read(NativeFile file, RegionTableEntry region, BatLayout layout, Path path) throws IOException {
        long pages = (layout.totalEntries() + ENTRIES_PER_PAGE - 1) / ENTRIES_PER_PAGE;
        long bytes = pages * Layout.LOG_SECTOR;
        if (bytes > region.length()) {
            throw new ImageException(path, "BAT region of " + region.length() + " bytes cannot hold the "
                    + layout.totalEntries() + " entries the disk size and block size need");
        }
        if (layout.totalEntries() > MAX_ENTRIES) {
            throw new ImageException(path, "BAT of " + layout.totalEntries() + " entries is larger than the "
                    + MAX_ENTRIES + " a 64 TiB disk has");
        }
        AtomicLongArray entries = new AtomicLongArray((int) (pages * ENTRIES_PER_PAGE));
        for (long done = 0; done < bytes; done += READ_CHUNK) {
            int n = (int) Math.min(READ_CHUNK, bytes - done);
            ByteBuffer b = ByteBuffer.wrap(file.readBytes(region.fileOffset() + done, n)).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n / 8; i++) {
                entries.set((int) (done / 8) + i, b.getLong(i * 8));
            }
        }
        return new BatTable(layout, region.fileOffset(), entries);
    }

    /**
     * Checks every entry the layout uses: valid states, data blocks inside the file and clear of
     * the header section, the log, the regions and each other.
     *
     * @param reserved [start, end) ranges of the file's fixed structures (log, regions)
     */
    void validate(boolean differencing, long fileSize, long[][] reserved, Path path) throws ImageException {
        long[] starts = new long[16];
        long[] lengths = new long[16];
        int used = 0;
        for (long block = 0; block < layout.payloadBlocks(); block++) {
            long raw = payload(block);
            int state = BatEntry.state(raw);
            if (!BatEntry.validPayloadState(state) || (!differencing && state == BatEntry.PARTIALLY_PRESENT)) {
                throw new ImageException(path, "BAT entry of block " + block + " has invalid state " + state);
            }
            if (state == BatEntry.PARTIALLY_PRESENT && BatEntry.state(bitmap(block / layout.chunkRatio())) != BatEntry.SB_PRESENT) {
                throw new ImageException(path, "block " + block + " is partially present but its sector bitmap is not");
            }
            if (BatEntry.hasData(state)) {
                long inDisk = Math.min(layout.blockSize(), layout.virtualSize() - block * layout.blockSize());
                // The last block of a disk whose size is not a block multiple need only hold the disk's part.
                long need = Math.min(layout.blockSize(), Layout.roundUp(inDisk, Layout.MIB));
                checkInFile("block " + block, BatEntry.fileOffset(raw), need, fileSize, reserved, path);
                if (used == starts.length) {
                    starts = Arrays.copyOf(starts, used * 2);
                    lengths = Arrays.copyOf(lengths, used * 2);
                }
                starts[used] = BatEntry.fileOffset(raw);
                lengths[used++] = layout.blockSize();
            }
        }
        if (differencing) {
            for (long chunk = 0; chunk < layout.bitmapBlocks(); chunk++) {
                long raw = bitmap(chunk);
                int state = BatEntry.state(raw);
                if (state != BatEntry.SB_NOT_PRESENT && state != BatEntry.SB_PRESENT) {
                    throw new ImageException(path, "sector bitmap entry " + chunk + " has invalid state " + state);
                }
                if (state == BatEntry.SB_PRESENT) {
                    checkInFile("sector bitmap " + chunk, BatEntry.fileOffset(raw), Layout.MIB, fileSize, reserved, path);
                    if (used == starts.length) {
                        starts = Arrays.copyOf(starts, used * 2);
                        lengths = Arrays.copyOf(lengths, used * 2);
                    }
                    starts[used] = BatEntry.fileOffset(raw);
                    lengths[used++] = Layout.MIB;
                }
            }
        }
        checkDisjoint(starts, lengths, used, fileSize, path);
    }

    private static void checkInFile(String what, long offset, long length, long fileSize, long[][] reserved, Path path)
            throws ImageException {
        if (offset < Layout.HEADER_SECTION || offset > fileSize || length > fileSize - offset) {
            throw new ImageException(path, what + " at file offset " + offset + " (+" + length
                    + ") lies outside the file (" + fileSize + " bytes) or in the header section");
        }
        for (long[] r : reserved) {
            if (offset < r[1] && r[0] < offset + length) {
                throw new ImageException(path, what + " at file offset " + offset + " overlaps the log or a region");
            }
        }
    }

    private static void checkDisjoint(long[] starts, long[] lengths, int used, long fileSize, Path path) throws ImageException {
        Integer[] order = new Integer[used];
        for (int i = 0; i < used; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Long.compare(starts[a], starts[b]));
        for (int i = 1; i < used; i++) {
            long prevEnd = Math.min(fileSize, starts[order[i - 1]] + lengths[order[i - 1]]);
            if (starts[order[i]] < prevEnd) {
                throw new ImageException(path, "BAT entries overlap at file offset " + starts[order[i]]);
            }
        }
    }

    BatLayout layout() {
        return layout;
    }

    long regionOffset() {
        return regionOffset;
    }

    /** Whole 4 KiB pages the table spans. */
    int pageCount() {
        return entries.length() / ENTRIES_PER_PAGE;
    }

    /**
     * A copy for a resized disk, at {@code newRegionOffset}: the entries of this layout are kept,
     * every other entry is zero (not present) whatever the old region held past this layout's end.
     */
    BatTable resized(BatLayout newLayout, long newRegionOffset) {
        long pages = (newLayout.totalEntries() + ENTRIES_PER_PAGE - 1) / ENTRIES_PER_PAGE;
        AtomicLongArray grown = new AtomicLongArray((int) (pages * ENTRIES_PER_PAGE));
        long keep = Math.min(layout.totalEntries(), newLayout.totalEntries());
        for (int i = 0; i < keep; i++) {
            grown.set(i, entries.get(i));
        }
        return new BatTable(newLayout, newRegionOffset, grown);
    }

    /** The page's bytes as they stand in memory. */
    SectorUpdate page(int page) {
        return pageOf((long) page * ENTRIES_PER_PAGE);
    }

    static int pageOfIndex(long index) {
        return (int) (index / ENTRIES_PER_PAGE);
    }

    long payload(long block) {
        return entries.get((int) layout.payloadIndex(block));
    }

    long bitmap(long chunk) {
        return entries.get((int) layout.bitmapIndex(chunk));
    }

    /** The highest file offset any entry's block reaches. */
    long maxEnd() {
        long max = 0;
        for (long block = 0; block < layout.payloadBlocks(); block++) {
            long raw = payload(block);
            if (BatEntry.hasData(BatEntry.state(raw))) {
                max = Math.max(max, BatEntry.fileOffset(raw) + layout.blockSize());
            }
        }
        for (long chunk = 0; chunk < layout.bitmapBlocks(); chunk++) {
            long index = layout.bitmapIndex(chunk);
            if (index < entries.length() && BatEntry.state(entries.get((int) index)) == BatEntry.SB_PRESENT) {
                max = Math.max(max, BatEntry.fileOffset(entries.get((int) index)) + Layout.MIB);
            }
        }
        return max;
    }

    /** Sets entries in memory; call only after the pages returned by {@link #pageOf} are durable. */
    void setPayload(long block, long raw) {
        entries.set((int) layout.payloadIndex(block), raw);
    }

    void setBitmap(long chunk, long raw) {
        entries.set((int) layout.bitmapIndex(chunk), raw);
    }

    long payloadIndex(long block) {
        return layout.payloadIndex(block);
    }

    long bitmapIndex(long chunk) {
        return layout.bitmapIndex(chunk);
    }

    /** The pages holding the entries {@code overrides} names, (index, value) pairs, each page once, with those values. */
    List<SectorUpdate> pagesWith(long[] overrides) {
        List<SectorUpdate> pages = new ArrayList<>();
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int i = 0; i < overrides.length; i += 2) {
            if (seen.add(pageOfIndex(overrides[i]))) {
                pages.add(pageOf(overrides[i], overrides));
            }
        }
        return pages;
    }

    /**
     * The 4 KiB BAT page holding {@code index}, as it reads with {@code overrides} applied
     * (pairs of index, raw value): what a log entry carries before the change is made.
     */
    SectorUpdate pageOf(long index, long... overrides) {
        int page = (int) (index / ENTRIES_PER_PAGE);
        byte[] data = new byte[Layout.LOG_SECTOR];
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < ENTRIES_PER_PAGE; i++) {
            long idx = (long) page * ENTRIES_PER_PAGE + i;
            long value = entries.get((int) idx);
            for (int o = 0; o < overrides.length; o += 2) {
                if (overrides[o] == idx) {
                    value = overrides[o + 1];
                }
            }
            b.putLong(i * 8, value);
        }
        return new SectorUpdate(regionOffset + (long) page * Layout.LOG_SECTOR, data);
    }

    static boolean samePage(long a, long b) {
        return a / ENTRIES_PER_PAGE == b / ENTRIES_PER_PAGE;
    }
}
