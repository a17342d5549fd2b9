package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import dev.vublk.uring.Errno;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Plans one change of a dynamic or differencing disk's virtual size: the sectors the log must
 * write (BAT pages, region tables, the size item), the BAT that results, and the blocks a shrink
 * frees. Work that must precede the log entry (zeroing a partial last block, writing a moved BAT
 * into its new, still unreferenced region) is done here, durably. Runs under the metadata lock.
 */
final class DiskResize {
    private static final int WRITE_CHUNK = (int) Layout.MIB;

    private final NativeFile file;
    private final Path path;
    private final BatTable old;
    private final boolean differencing;
    private final long sizeItemOffset;
    private final List<SectorUpdate> updates = new ArrayList<>();
    private final List<Long> released = new ArrayList<>();
    private long fileEnd;

    /**
     * @param sizeItemOffset file offset of the virtual disk size item
     * @param nextFree       where new space starts (the end of everything allocated)
     */
    DiskResize(NativeFile file, Path path, BatTable old, boolean differencing, long sizeItemOffset, long nextFree) {
        this.file = file;
        this.path = path;
        this.old = old;
        this.differencing = differencing;
        this.sizeItemOffset = sizeItemOffset;
        this.fileEnd = nextFree;
    }

    /** Refuses a size the format cannot take, and fixed disks, whose blocks never move. */
    static void check(Path path, long newSize, int logicalSectorSize, boolean fixed) throws ImageException {
        if (newSize <= 0 || newSize > Layout.MAX_DISK_SIZE || newSize % logicalSectorSize != 0) {
            throw new ImageException(path, "cannot resize to " + newSize + " bytes: the size must be a positive multiple of "
                    + logicalSectorSize + " up to 64 TiB");
        }
        if (fixed) {
            throw new UnsupportedOperationException(path + ": resizing a fixed VHDX is not supported");
        }
    }

    List<SectorUpdate> updates() { return updates; }

    /** A file size that holds everything after the change. */
    long fileEnd() { return fileEnd; }

    /** File offsets of payload blocks the smaller disk no longer references, to punch after the commit. */
    List<Long> releasedBlocks() { return released; }

    BatTable grow(long newSize) throws IOException {
        BatLayout from = old.layout();
        BatLayout to = layoutFor(newSize);
        zeroTailOfLastBlock(from, newSize);
        RegionTableEntry region = batRegion();
        long needed = pagesFor(to) * Layout.LOG_SECTOR;
        BatTable next;
        if (needed <= region.length()) {
            next = old.resized(to, old.regionOffset());
            logChangedPages(next, BatTable.pageOfIndex(from.totalEntries()), next.pageCount());
        } else {
            long at = Layout.roundUp(fileEnd, Layout.MIB);
            long length = to.regionBytes();
            fileEnd = at + length;
            file.truncate(fileEnd);
            next = old.resized(to, at);
            writeWholeTable(next);
            updates.addAll(regionTableUpdates(new RegionTableEntry(KnownGuids.BAT_REGION, at, length, true)));
        }
        updates.addAll(sizeItemUpdates(newSize)); // last: it exposes the new entries only once they are clean
        return next;
    }

    BatTable shrink(long newSize) throws IOException {
        BatLayout from = old.layout();
        BatLayout to = layoutFor(newSize);
        updates.addAll(sizeItemUpdates(newSize)); // first: entries past the new end are ignored from then on
        BatTable next = old.resized(to, old.regionOffset());
        for (long block = to.payloadBlocks(); block < from.payloadBlocks(); block++) {
            long raw = old.payload(block);
            if (BatEntry.hasData(BatEntry.state(raw))) {
                released.add(BatEntry.fileOffset(raw));
            }
        }
        // The last page keeps only the smaller disk's entries; pages past it stay as they are and
        // are cleared by any later grow before it exposes them.
        logChangedPages(next, BatTable.pageOfIndex(Math.max(0, to.totalEntries() - 1)), next.pageCount());
        return next;
    }

    private BatLayout layoutFor(long newSize) throws ImageException {
        BatLayout l = old.layout();
        BatLayout to = BatLayout.of(newSize, l.blockSize(), l.logicalSectorSize(), differencing);
        if (pagesFor(to) * (Layout.LOG_SECTOR / 8) > Integer.MAX_VALUE - 8) {
            throw new ImageException(path, "a BAT for " + newSize + " bytes in " + l.blockSize() + "-byte blocks is too large");
        }
        return to;
    }

    private static long pagesFor(BatLayout l) {
        return (l.totalEntries() * 8 + Layout.LOG_SECTOR - 1) / Layout.LOG_SECTOR;
    }

    /**
     * A disk whose size is not a block multiple may hold bytes past its end in its last block (a
     * shrink leaves them, other tools may too); growing must not bring them back.
     */
    private void zeroTailOfLastBlock(BatLayout from, long newSize) throws IOException {
        long bs = from.blockSize();
        long tail = from.virtualSize() % bs;
        if (tail == 0) {
            return;
        }
        long block = from.virtualSize() / bs;
        long raw = old.payload(block);
        if (!BatEntry.hasData(BatEntry.state(raw))) {
            return;
        }
        long host = BatEntry.fileOffset(raw);
        if (file.size() < host + bs) {
            file.truncate(host + bs); // the block may have been stored short; the bigger disk needs all of it
        }
        long length = Math.min(bs, newSize - block * bs) - tail;
        try {
            file.zeroRange(host + tail, length);
        } catch (NativeException e) {
            if (e.errno() != Errno.ENOTSUP && e.errno() != Errno.EINVAL) {
                throw e;
            }
            writeZeros(host + tail, length);
        }
        file.fdatasync();
    }

    private void writeZeros(long offset, long length) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment zeros = arena.allocate(WRITE_CHUNK, 4096);
            for (long done = 0; done < length; done += WRITE_CHUNK) {
                file.write(zeros.asSlice(0, Math.min(WRITE_CHUNK, length - done)), offset + done);
            }
        }
    }

    /** Logs the pages in {@code [firstPage, endPage)} of {@code next} whose bytes differ from the file's. */
    private void logChangedPages(BatTable next, int firstPage, int endPage) throws IOException {
        for (int p = firstPage; p < endPage; p++) {
            SectorUpdate page = next.page(p);
            if (!Arrays.equals(page.data(), file.readBytes(page.fileOffset(), Layout.LOG_SECTOR))) {
                updates.add(page);
            }
        }
    }

    /** Writes every page of a table into its new region, durably, before anything references it. */
    private void writeWholeTable(BatTable next) throws IOException {
        int pagesPerChunk = WRITE_CHUNK / Layout.LOG_SECTOR;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(WRITE_CHUNK, 4096);
            for (int first = 0; first < next.pageCount(); first += pagesPerChunk) {
                int n = Math.min(pagesPerChunk, next.pageCount() - first);
                for (int i = 0; i < n; i++) {
                    MemorySegment.copy(next.page(first + i).data(), 0, buf, ValueLayout.JAVA_BYTE, (long) i * Layout.LOG_SECTOR,
                            Layout.LOG_SECTOR);
                }
                file.write(buf.asSlice(0, (long) n * Layout.LOG_SECTOR), next.regionOffset() + (long) first * Layout.LOG_SECTOR);
            }
        }
        file.fdatasync();
    }

    private RegionTableEntry batRegion() throws IOException {
        return currentRegions().find(KnownGuids.BAT_REGION, path);
    }

    private RegionTable currentRegions() throws IOException {
        RegionTable t = RegionTable.parseOrNull(file.readBytes(Layout.REGION_TABLE1_OFFSET, Layout.REGION_TABLE_SIZE));
        if (t == null) {
            t = RegionTable.parseOrNull(file.readBytes(Layout.REGION_TABLE2_OFFSET, Layout.REGION_TABLE_SIZE));
        }
        if (t == null || t.entries() == null) {
            throw new ImageException(path, "both region tables are damaged; cannot resize");
        }
        return t;
    }

    /** Both region table copies with the BAT entry replaced: the sectors that change. */
    private List<SectorUpdate> regionTableUpdates(RegionTableEntry newBat) throws IOException {
        List<RegionTableEntry> entries = new ArrayList<>();
        for (RegionTableEntry e : currentRegions().entries()) {
            entries.add(e.guid().equals(KnownGuids.BAT_REGION) ? newBat : e);
        }
        byte[] table = new RegionTable(entries).encode();
        List<SectorUpdate> out = new ArrayList<>();
        for (long copy : new long[] {Layout.REGION_TABLE1_OFFSET, Layout.REGION_TABLE2_OFFSET}) {
            out.addAll(changedSectors(copy, table));
        }
        return out;
    }

    /** The 4 KiB sectors holding the size item, with the new size in place. */
    private List<SectorUpdate> sizeItemUpdates(long newSize) throws IOException {
        long first = sizeItemOffset / Layout.LOG_SECTOR * Layout.LOG_SECTOR;
        int span = (int) (Layout.roundUp(sizeItemOffset + 8, Layout.LOG_SECTOR) - first);
        byte[] bytes = file.readBytes(first, span);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong((int) (sizeItemOffset - first), newSize);
        return changedSectors(first, bytes);
    }

    private List<SectorUpdate> changedSectors(long offset, byte[] wanted) throws IOException {
        byte[] now = file.readBytes(offset, wanted.length);
        List<SectorUpdate> out = new ArrayList<>();
        for (int at = 0; at < wanted.length; at += Layout.LOG_SECTOR) {
            if (!Arrays.equals(now, at, at + Layout.LOG_SECTOR, wanted, at, at + Layout.LOG_SECTOR)) {
                out.add(new SectorUpdate(offset + at, Arrays.copyOfRange(wanted, at, at + Layout.LOG_SECTOR)));
            }
        }
        return out;
    }
}
