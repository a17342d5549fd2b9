package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import dev.vublk.block.Mapping;
import dev.vublk.uring.Errno;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import java.io.EOFException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The metadata of one open VHDX file, shared by every queue thread: headers, known items, the
 * BAT and sector bitmaps. Lookups ({@link #map}) take no lock. Changes (allocation, block state
 * changes, bitmap updates) run under one lock and go through the log before they are made
 * visible in memory; data I/O is the caller's and happens outside the lock.
 */
public final class VhdxMetadata {
    private final Path path;
    private final NativeFile file;
    private final Headers headers;
    private final MetadataItems items;
    private final BatTable bat;
    private final SectorBitmaps bitmaps;
    private final UUID dataWriteGuidAtOpen;
    private final ReentrantLock lock = new ReentrantLock();
    private volatile boolean writing;
    private LogWriter log;
    private long nextFree;
    private long durableSize;

    private VhdxMetadata(Path path, NativeFile file, Headers headers, MetadataItems items, BatTable bat, long fileSize) {
        this.path = path;
        this.file = file;
        this.headers = headers;
        this.items = items;
        this.bat = bat;
        this.bitmaps = new SectorBitmaps(file);
        this.dataWriteGuidAtOpen = headers.current().dataWriteGuid();
        this.durableSize = fileSize;
        VhdxHeader h = headers.current();
        this.nextFree = Math.max(Layout.roundUp(fileSize, Layout.MIB), Math.max(bat.maxEnd(), h.logOffset() + h.logLength()));
    }

    /**
     * Reads and validates everything, replaying the log first if it needs it.
     *
     * @param replayReadOnly when {@code file} is read-only and the log needs replay, replay it
     *     through a second, writable descriptor instead of refusing to open
     */
    static VhdxMetadata open(NativeFile file, Path path, boolean replayReadOnly) throws IOException {
        try {
            FileIdentifier.parse(file.readBytes(Layout.FILE_ID_OFFSET, FileIdentifier.SIZE), path);
            Headers headers = Headers.read(file, path);
            List<LogEntry> pending = LogReplay.pending(file, headers.current(), path);
            if (!pending.isEmpty()) {
                headers = replay(file, path, headers, pending, replayReadOnly);
            }
            long fileSize = file.size();
            VhdxHeader header = headers.current();
            RegionTable regions = readRegions(file, path, fileSize, header);
            RegionTableEntry metaRegion = regions.find(KnownGuids.METADATA_REGION, path);
            if (metaRegion.length() > 64 * Layout.MIB) {
                throw new ImageException(path, "metadata region of " + metaRegion.length() + " bytes is implausibly large");
            }
            MetadataItems items = MetadataItems.parse(file.readBytes(metaRegion.fileOffset(), (int) metaRegion.length()), path);
            RegionTableEntry batRegion = regions.find(KnownGuids.BAT_REGION, path);
            BatTable bat = BatTable.read(file, batRegion, items.batLayout(), path);
            List<long[]> reserved = new ArrayList<>();
            reserved.add(new long[] {header.logOffset(), header.logOffset() + header.logLength()});
            for (RegionTableEntry e : regions.entries()) {
                reserved.add(new long[] {e.fileOffset(), e.end()});
            }
            bat.validate(items.fileParameters().hasParent(), fileSize, reserved.toArray(long[][]::new), path);
            return new VhdxMetadata(path, file, headers, items, bat, fileSize);
        } catch (EOFException e) {
            throw new ImageException(path, "file ends inside a VHDX structure: " + e.getMessage(), e);
        }
    }

    private static Headers replay(NativeFile file, Path path, Headers headers, List<LogEntry> pending, boolean replayReadOnly)
            throws IOException {
        if (file.writable()) {
            LogReplay.apply(file, pending);
            VhdxHeader h = headers.current();
            headers.update(MsGuid.random(), h.dataWriteGuid(), MsGuid.ZERO);
            return headers;
        }
        if (!replayReadOnly) {
            throw new ImageException(path, "the VHDX log holds " + pending.size() + " entr" + (pending.size() == 1 ? "y" : "ies")
                    + " that must be replayed, but the image is open read-only; open it read-write once (or allow"
                    + " replay of read-only images) to replay the log");
        }
        try (NativeFile writable = NativeFile.open(path, true, false)) {
            Headers w = Headers.read(writable, path);
            List<LogEntry> again = LogReplay.pending(writable, w.current(), path);
            LogReplay.apply(writable, again);
            w.update(MsGuid.random(), w.current().dataWriteGuid(), MsGuid.ZERO);
        }
        return Headers.read(file, path);
    }

    private static RegionTable readRegions(NativeFile file, Path path, long fileSize, VhdxHeader header) throws IOException {
        RegionTable first = RegionTable.parseOrNull(file.readBytes(Layout.REGION_TABLE1_OFFSET, Layout.REGION_TABLE_SIZE));
        RegionTable table = first != null ? first
                : RegionTable.parseOrNull(file.readBytes(Layout.REGION_TABLE2_OFFSET, Layout.REGION_TABLE_SIZE));
        if (table == null) {
            throw new ImageException(path, "both region tables are damaged (bad signature or CRC-32C)");
        }
        table.validate(path, fileSize, header);
        return table;
    }

    // ---- facts -----------------------------------------------------------------------------

    public Path path() { return path; }

    public long virtualSize() { return items.virtualDiskSize(); }

    public int blockSize() { return items.fileParameters().blockSize(); }

    public int logicalSectorSize() { return items.logicalSectorSize(); }

    public int physicalSectorSize() { return items.physicalSectorSize(); }

    public boolean differencing() { return items.fileParameters().hasParent(); }

    /** Fixed disks: blocks stay allocated, discard zeroes in place. */
    public boolean leaveBlocksAllocated() { return items.fileParameters().leaveBlocksAllocated() && !differencing(); }

    /** The DataWriteGuid the file had when opened: what children's parent linkage must name. */
    public UUID dataWriteGuid() { return dataWriteGuidAtOpen; }

    ParentLocator parentLocator() { return items.parentLocator(); }

    MetadataItems items() { return items; }

    VhdxHeader header() { return headers.current(); }

    NativeFile file() { return file; }

    public long payloadEntry(long block) { return bat.payload(block); }

    // ---- lookups ---------------------------------------------------------------------------

    /**
     * Where {@code [offset, offset+max)} starts, as far as one kind of mapping reaches within a
     * block: DATA in this file, ZERO, or BACKING (the parent's, sector by sector from the bitmap).
     */
    public Mapping map(long offset, long max) throws IOException {
        long bs = blockSize();
        long block = offset / bs;
        long inBlock = offset % bs;
        long len = Math.min(Math.min(max, bs - inBlock), virtualSize() - offset);
        long raw = bat.payload(block);
        switch (BatEntry.state(raw)) {
            case BatEntry.FULLY_PRESENT:
                return Mapping.data(offset, len, file, BatEntry.fileOffset(raw) + inBlock);
            case BatEntry.PARTIALLY_PRESENT: {
                int ls = logicalSectorSize();
                long sbOffset = BatEntry.fileOffset(bat.bitmap(block / bat.layout().chunkRatio()));
                long run = bitmaps.run(sbOffset, firstBit(block, inBlock / ls), Math.max(1, len / ls));
                long bytes = Math.min(len, Math.abs(run) * ls);
                return run > 0 ? Mapping.data(offset, bytes, file, BatEntry.fileOffset(raw) + inBlock) : Mapping.backing(offset, bytes);
            }
            case BatEntry.NOT_PRESENT:
                return differencing() ? Mapping.backing(offset, len) : Mapping.zero(offset, len);
            default:
                return Mapping.zero(offset, len);
        }
    }

    private long firstBit(long block, long sectorInBlock) {
        return block % bat.layout().chunkRatio() * bat.layout().sectorsPerBlock() + sectorInBlock;
    }

    // ---- changes ---------------------------------------------------------------------------

    /** Called before the first change of user data: new FileWriteGuid, DataWriteGuid and LogGuid. */
    public void beginWrites() throws IOException {
        if (writing) {
            return;
        }
        lock.lock();
        try {
            beginWritesLocked();
        } finally {
            lock.unlock();
        }
    }

    private void beginWritesLocked() throws IOException {
        if (writing) {
            return;
        }
        Headers.checkWritable(file, path);
        VhdxHeader h = headers.current();
        if (h.logLength() == 0) {
            throw new ImageException(path, "image has no log, so its metadata cannot be changed safely");
        }
        UUID logGuid = MsGuid.random();
        headers.update(MsGuid.random(), MsGuid.random(), logGuid);
        log = new LogWriter(file, h.logOffset(), h.logLength(), logGuid, 1);
        writing = true;
    }

    /**
     * Gives the block file space if it has none and returns its entry: FULLY_PRESENT (new space
     * reads as zeros), or for a differencing disk's NOT_PRESENT block PARTIALLY_PRESENT with no
     * sector present yet, so unwritten sectors still come from the parent.
     */
    public long allocate(long block) throws IOException {
        lock.lock();
        try {
            long raw = bat.payload(block);
            if (BatEntry.hasData(BatEntry.state(raw))) {
                return raw;
            }
            beginWritesLocked();
            long start = nextFree;
            long end = start + blockSize();
            long pIdx = bat.payloadIndex(block);
            long newRaw;
            long sbIdx = -1;
            long sbRaw = 0;
            List<SectorUpdate> bitmapPages = List.of();
            long chunk = block / bat.layout().chunkRatio();
            if (differencing() && BatEntry.state(raw) == BatEntry.NOT_PRESENT) {
                sbRaw = bat.bitmap(chunk);
                if (BatEntry.state(sbRaw) != BatEntry.SB_PRESENT) {
                    sbRaw = BatEntry.encode(BatEntry.SB_PRESENT, end);
                    sbIdx = bat.bitmapIndex(chunk);
                    end += Layout.MIB;
                } else {
                    // Bits left from an earlier life of the block must not make stale sectors visible.
                    bitmapPages = bitmapChanges(BatEntry.fileOffset(sbRaw), block, 0, bat.layout().sectorsPerBlock(), false, List.of(), false);
                }
                newRaw = BatEntry.encode(BatEntry.PARTIALLY_PRESENT, start);
            } else {
                newRaw = BatEntry.encode(BatEntry.FULLY_PRESENT, start);
            }
            file.truncate(end);
            commit(bitmapPages, end, pIdx, newRaw, sbIdx, sbRaw);
            if (sbIdx >= 0) {
                bat.setBitmap(chunk, sbRaw);
            }
            bat.setPayload(block, newRaw);
            nextFree = end;
            return newRaw;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Marks sectors of an allocated block of a differencing disk present (after their data is
     * written) or absent (so the parent shows through). A whole block written becomes
     * FULLY_PRESENT; a fully present block losing sectors becomes PARTIALLY_PRESENT.
     */
    public void setSectorsPresent(long block, long firstSector, long count, boolean present) throws IOException {
        lock.lock();
        try {
            long raw = bat.payload(block);
            int state = BatEntry.state(raw);
            long spb = bat.layout().sectorsPerBlock();
            if (!BatEntry.hasData(state) || (state == BatEntry.FULLY_PRESENT && present)) {
                return; // discarded meanwhile, or nothing to record
            }
            beginWritesLocked();
            long pIdx = bat.payloadIndex(block);
            if (present && firstSector == 0 && count == spb) {
                commit(List.of(), nextFree, pIdx, BatEntry.encode(BatEntry.FULLY_PRESENT, BatEntry.fileOffset(raw)), -1, 0);
                bat.setPayload(block, BatEntry.encode(BatEntry.FULLY_PRESENT, BatEntry.fileOffset(raw)));
                return;
            }
            long chunk = block / bat.layout().chunkRatio();
            long sbRaw = bat.bitmap(chunk);
            long sbIdx = -1;
            long end = nextFree;
            List<SectorUpdate> pages;
            if (state == BatEntry.FULLY_PRESENT) {
                boolean fresh = BatEntry.state(sbRaw) != BatEntry.SB_PRESENT;
                if (fresh) {
                    sbRaw = BatEntry.encode(BatEntry.SB_PRESENT, end);
                    sbIdx = bat.bitmapIndex(chunk);
                    end += Layout.MIB;
                    file.truncate(end);
                }
                List<SectorUpdate> all = bitmapChanges(BatEntry.fileOffset(sbRaw), block, 0, spb, true, List.of(), fresh);
                List<SectorUpdate> cleared = bitmapChanges(BatEntry.fileOffset(sbRaw), block, firstSector, count, false, all, fresh);
                pages = new ArrayList<>();
                for (SectorUpdate u : all) {
                    SectorUpdate newer = cleared.stream().filter(c -> c.fileOffset() == u.fileOffset()).findFirst().orElse(u);
                    pages.add(newer);
                }
            } else {
                pages = bitmapChanges(BatEntry.fileOffset(sbRaw), block, firstSector, count, present, List.of(), false);
            }
            long newRaw = BatEntry.encode(BatEntry.PARTIALLY_PRESENT, BatEntry.fileOffset(raw));
            commit(pages, end, pIdx, newRaw, sbIdx, sbRaw);
            if (sbIdx >= 0) {
                bat.setBitmap(chunk, sbRaw);
            }
            bat.setPayload(block, newRaw);
            nextFree = end;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Moves a block to a state without data (ZERO, UNMAPPED or NOT_PRESENT) and punches its old
     * space out of the file, once the new entry is durable.
     */
    public void releaseBlock(long block, int newState) throws IOException {
        lock.lock();
        try {
            long raw = bat.payload(block);
            if (BatEntry.state(raw) == newState && !BatEntry.hasData(newState)) {
                return;
            }
            beginWritesLocked();
            long newRaw = BatEntry.encode(newState, 0);
            commit(List.of(), nextFree, bat.payloadIndex(block), newRaw, -1, 0);
            bat.setPayload(block, newRaw);
            if (BatEntry.hasData(BatEntry.state(raw))) {
                try {
                    file.punchHole(BatEntry.fileOffset(raw), blockSize());
                } catch (NativeException e) {
                    if (e.errno() != Errno.ENOTSUP) { // no hole punching here: the space stays, unreferenced
                        throw e;
                    }
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * The bitmap pages covering sectors {@code [first, first+count)} of the block with those bits
     * set to {@code value}, starting from pages already changed in this transaction ({@code base}),
     * else from zeros for a {@code fresh} bitmap block, else from the file.
     */
    private List<SectorUpdate> bitmapChanges(long sbOffset, long block, long first, long count, boolean value,
                                             List<SectorUpdate> base, boolean fresh) throws IOException {
        List<SectorUpdate> out = new ArrayList<>();
        int perPage = SectorBitmaps.bitsPerPage();
        long bit = firstBit(block, first);
        long endBit = bit + count;
        while (bit < endBit) {
            long pageOffset = sbOffset + bit / perPage * Layout.LOG_SECTOR;
            int from = (int) (bit % perPage);
            int n = (int) Math.min(perPage - from, endBit - bit);
            byte[] page = null;
            for (SectorUpdate u : base) {
                if (u.fileOffset() == pageOffset) {
                    page = u.data();
                }
            }
            if (page == null) {
                page = fresh ? new byte[Layout.LOG_SECTOR] : bitmaps.page(pageOffset);
            }
            out.add(new SectorUpdate(pageOffset, SectorBitmaps.withBits(page, from, n, value)));
            bit += n;
        }
        return out;
    }

    /** Logs the bitmap pages and the BAT pages of the (up to two) changed entries; then caches the pages. */
    private void commit(List<SectorUpdate> bitmapPages, long lastFileOffset, long idxA, long rawA, long idxB, long rawB)
            throws IOException {
        List<SectorUpdate> updates = new ArrayList<>(bitmapPages);
        updates.add(bat.pageOf(idxA, idxA, rawA, idxB, rawB));
        if (idxB >= 0 && !BatTable.samePage(idxA, idxB)) {
            updates.add(bat.pageOf(idxB, idxA, rawA, idxB, rawB));
        }
        log.commit(updates, durableSize, lastFileOffset);
        durableSize = Math.max(durableSize, lastFileOffset);
        for (SectorUpdate p : bitmapPages) {
            bitmaps.replace(p.fileOffset(), p.data());
        }
    }

    /** Makes the file durable (metadata is already durable when each change returns). */
    public void flush() throws IOException {
        if (file.writable()) {
            file.fsync();
        }
    }

    /** Ends the write session: an empty log (LogGuid zero) so the image opens cleanly read-only. */
    void close() throws IOException {
        lock.lock();
        try {
            if (writing) {
                file.fsync();
                VhdxHeader h = headers.current();
                headers.update(h.fileWriteGuid(), h.dataWriteGuid(), MsGuid.ZERO);
                writing = false;
            }
        } finally {
            lock.unlock();
        }
    }
}
