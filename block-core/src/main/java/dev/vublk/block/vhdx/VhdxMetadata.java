package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import dev.vublk.block.WriteBackStep;
import dev.vublk.block.storage.FileStorage;
import dev.vublk.uring.Errno;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The metadata of one open VHDX file, shared by every queue thread: headers, known items, the
 * BAT and sector bitmaps. Lookups ({@link #mapInto}) take no lock. Changes (allocation, block
 * state changes, bitmap updates) go through the log before they are made visible in memory,
 * one at a time: a dynamic disk's block allocations as {@link BlockAllocation}s a queue writes
 * on its ring, the rest synchronously under the lock; data I/O is the caller's.
 */
public final class VhdxMetadata {
    /** Bitmap cache budget when the options give none: 16 Ki pages of 4 KiB cover 256 GiB of 512-byte sectors. */
    static final long DEFAULT_BITMAP_CACHE = 64 * Layout.MIB;
    /** Ceiling on cached bitmap pages whatever the options ask: 2^20 pages, 4 GiB, a 64 TiB disk's bitmaps at 4 KiB sectors. */
    static final int MAX_BITMAP_PAGES = 1 << 20;
    /** Blocks one allocation covers at most: its BAT pages fit one log entry with room to spare. */
    static final int MAX_BLOCKS_PER_ALLOCATION = 64;
    /** How long a synchronous change waits for an allocation another queue is writing. */
    private static final long CHANGE_WAIT_NANOS = 30_000_000_000L;
    private static final Runnable NO_CRASH_POINT = () -> {};

    private final Path path;
    private final NativeFile file;
    private final Headers headers;
    private final RegionTableEntry metadataRegion;
    private volatile MetadataItems items;
    private volatile BatTable bat;
    private final SectorBitmaps bitmaps;
    private final int maxBitmapPages;
    private final UUID dataWriteGuidAtOpen;
    private final ReentrantLock lock = new ReentrantLock();
    private volatile boolean writing;
    private LogWriter log;
    private long nextFree;
    private long durableSize;
    /** The block allocation a queue is writing on its ring, or null; guarded by {@link #lock}. */
    private BlockAllocation allocating;
    /** Blocks asked for while {@link #allocating} was in flight: the next allocation covers them. */
    private final LinkedHashSet<Long> queuedBlocks = new LinkedHashSet<>();
    /** The metadata file as storage, for log writes on a queue's ring. */
    private final FileStorage storage;

    VhdxMetadata(Path path, NativeFile file, Headers headers, RegionTableEntry metadataRegion, MetadataItems items,
                 BatTable bat, long fileSize, long cacheBytes) {
        this.path = path;
        this.file = file;
        this.headers = headers;
        this.metadataRegion = metadataRegion;
        this.items = items;
        this.bat = bat;
        this.maxBitmapPages = (int) Math.min(MAX_BITMAP_PAGES, Math.max(16, (cacheBytes > 0 ? cacheBytes : DEFAULT_BITMAP_CACHE) / Layout.LOG_SECTOR));
        this.bitmaps = new SectorBitmaps(file, bat.layout().bitmapBlocks(), maxBitmapPages);
        this.dataWriteGuidAtOpen = headers.current().dataWriteGuid();
        this.storage = FileStorage.buffered(file);
        this.durableSize = fileSize;
        VhdxHeader h = headers.current();
        this.nextFree = Math.max(Layout.roundUp(fileSize, Layout.MIB), Math.max(bat.maxEnd(), h.logOffset() + h.logLength()));
    }

    /**
     * Reads and validates everything, replaying the log first if it needs it.
     *
     * @param replayReadOnly when {@code file} is read-only and the log needs replay, replay it
     *     through a second, writable descriptor instead of refusing to open
     * @param cacheBytes sector bitmap cache budget (0: the default)
     */
    static VhdxMetadata open(NativeFile file, Path path, boolean replayReadOnly, long cacheBytes) throws IOException {
        return MetadataOpen.open(file, path, replayReadOnly, cacheBytes);
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

    SectorBitmaps bitmaps() { return bitmaps; }

    /** The lock every metadata change holds; package-private so tests can show lookups never take it. */
    ReentrantLock changeLock() { return lock; }

    public long payloadEntry(long block) { return bat.payload(block); }

    // ---- lookups ---------------------------------------------------------------------------

    /**
     * Where {@code [offset, offset+max)} starts, as far as one kind of mapping reaches within a
     * block: DATA in this file, ZERO, or PARENT (sector by sector from the bitmap), into a reused
     * holder: the lock-free, allocation-free lookup of the data path.
     * A partially present block's bitmap page comes from the cache (loaded at open).
     */
    void mapInto(long offset, long max, Extent out) throws IOException {
        BatTable b = bat;
        long bs = b.layout().blockSize();
        long block = offset / bs;
        long inBlock = offset % bs;
        long len = Math.min(Math.min(max, bs - inBlock), b.layout().virtualSize() - offset);
        long raw = b.payload(block);
        switch (BatEntry.state(raw)) {
            case BatEntry.FULLY_PRESENT -> out.data(len, BatEntry.fileOffset(raw) + inBlock);
            case BatEntry.PARTIALLY_PRESENT -> {
                int ls = b.layout().logicalSectorSize();
                long chunk = block / b.layout().chunkRatio();
                long run = bitmaps.run(chunk, BatEntry.fileOffset(b.bitmap(chunk)), firstBit(b, block, inBlock / ls),
                        Math.max(1, len / ls));
                long bytes = Math.min(len, Math.abs(run) * ls);
                if (run > 0) {
                    out.data(bytes, BatEntry.fileOffset(raw) + inBlock);
                } else {
                    out.parent(bytes);
                }
            }
            case BatEntry.NOT_PRESENT -> {
                if (differencing()) {
                    out.parent(len);
                } else {
                    out.zero(len);
                }
            }
            default -> out.zero(len);
        }
    }

    /** Whether sectors {@code [first, first+count)} of a partially present block are all present already. */
    boolean sectorsPresent(long block, long first, long count) throws IOException {
        BatTable b = bat;
        long chunk = block / b.layout().chunkRatio();
        return bitmaps.run(chunk, BatEntry.fileOffset(b.bitmap(chunk)), firstBit(b, block, first), count) >= count;
    }

    private static long firstBit(BatTable b, long block, long sectorInBlock) {
        return block % b.layout().chunkRatio() * b.layout().sectorsPerBlock() + sectorInBlock;
    }

    /** Loads the bitmap pages of every partially present block, so reads of them never wait on the file. */
    void warmBitmaps() throws IOException {
        if (!differencing()) {
            return;
        }
        BatTable b = bat;
        BatLayout l = b.layout();
        long bitsPerPage = SectorBitmaps.bitsPerPage();
        for (long block = 0; block < l.payloadBlocks() && bitmaps.cachedPages() < maxBitmapPages; block++) {
            if (BatEntry.state(b.payload(block)) != BatEntry.PARTIALLY_PRESENT) {
                continue;
            }
            long chunk = block / l.chunkRatio();
            long sb = BatEntry.fileOffset(b.bitmap(chunk));
            long first = firstBit(b, block, 0);
            for (long page = first / bitsPerPage; page <= (first + l.sectorsPerBlock() - 1) / bitsPerPage; page++) {
                bitmaps.page(chunk, sb, (int) page);
            }
        }
    }

    // ---- changes ---------------------------------------------------------------------------

    /** Called before the first change of user data: new FileWriteGuid, DataWriteGuid and LogGuid. */
    public void beginWrites() throws IOException {
        beginWrites(NO_CRASH_POINT);
    }

    /**
     * {@link #beginWrites()} with a step the log writer runs at the point a crash leaves a log to
     * replay (each entry durable, none of its sectors written in place): the seam the crash tests
     * kill their process at. It only takes effect on the call that starts writing.
     */
    void beginWrites(Runnable afterEntryDurable) throws IOException {
        if (writing) {
            return;
        }
        lock.lock();
        try {
            beginWritesLocked(afterEntryDurable);
        } finally {
            lock.unlock();
        }
    }

    private void beginWritesLocked() throws IOException {
        beginWritesLocked(NO_CRASH_POINT);
    }

    private void beginWritesLocked(Runnable afterEntryDurable) throws IOException {
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
        log = new LogWriter(file, h.logOffset(), h.logLength(), logGuid, 1, afterEntryDurable);
        writing = true;
    }

    /**
     * Gives the block file space if it has none and returns its entry: FULLY_PRESENT (new space
     * reads as zeros), or for a differencing disk's NOT_PRESENT block PARTIALLY_PRESENT with no
     * sector present yet, so unwritten sectors still come from the parent. Blocks in the other
     * states without data (ZERO, UNMAPPED, UNDEFINED) read as zeros, so they become FULLY_PRESENT:
     * the parent must not show through them.
     */
    public long allocate(long block) throws IOException {
        lockForChange();
        try {
            BatTable b = bat;
            long raw = b.payload(block);
            if (BatEntry.hasData(BatEntry.state(raw))) {
                return raw;
            }
            beginWritesLocked();
            long start = nextFree;
            long end = start + blockSize();
            long pIdx = b.payloadIndex(block);
            long newRaw;
            long sbIdx = -1;
            long sbRaw = 0;
            List<SectorUpdate> bitmapPages = List.of();
            long chunk = block / b.layout().chunkRatio();
            if (differencing() && BatEntry.state(raw) == BatEntry.NOT_PRESENT) {
                sbRaw = b.bitmap(chunk);
                if (BatEntry.state(sbRaw) != BatEntry.SB_PRESENT) {
                    sbRaw = BatEntry.encode(BatEntry.SB_PRESENT, end);
                    sbIdx = b.bitmapIndex(chunk);
                    end += Layout.MIB;
                } else {
                    // Bits left from an earlier life of the block must not make stale sectors visible.
                    bitmapPages = bitmaps.changes(chunk, BatEntry.fileOffset(sbRaw), firstBit(bat, block, 0),
                            b.layout().sectorsPerBlock(), false, List.of(), false);
                }
                newRaw = BatEntry.encode(BatEntry.PARTIALLY_PRESENT, start);
            } else {
                newRaw = BatEntry.encode(BatEntry.FULLY_PRESENT, start);
            }
            file.truncate(end);
            // Reserved before the log writes: should they fail (a full disk) after the entry is
            // durable, a replayable entry may point here, so the space is never handed out again.
            nextFree = end;
            commit(chunk, BatEntry.fileOffset(sbRaw), bitmapPages, end, pIdx, newRaw, sbIdx, sbRaw);
            if (sbIdx >= 0) {
                b.setBitmap(chunk, sbRaw);
            }
            b.setPayload(block, newRaw);
            return newRaw;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Marks sectors of an allocated block of a differencing disk present (after their data is
     * written) or absent (so the parent shows through). A whole block written becomes
     * FULLY_PRESENT; a fully present block losing sectors becomes PARTIALLY_PRESENT. Marking
     * sectors that are already present costs no lock and no log entry: the path of rewrites.
     */
    public void setSectorsPresent(long block, long firstSector, long count, boolean present) throws IOException {
        if (present) {
            int state = BatEntry.state(bat.payload(block));
            if (state == BatEntry.FULLY_PRESENT || (state == BatEntry.PARTIALLY_PRESENT && sectorsPresent(block, firstSector, count))) {
                return;
            }
        }
        lockForChange();
        try {
            BatTable b = bat;
            long raw = b.payload(block);
            int state = BatEntry.state(raw);
            long spb = b.layout().sectorsPerBlock();
            if (!BatEntry.hasData(state) || (state == BatEntry.FULLY_PRESENT && present)) {
                return; // discarded meanwhile, or nothing to record
            }
            beginWritesLocked();
            long pIdx = b.payloadIndex(block);
            long chunk = block / b.layout().chunkRatio();
            long sbRaw = b.bitmap(chunk);
            if (present && firstSector == 0 && count == spb) {
                long full = BatEntry.encode(BatEntry.FULLY_PRESENT, BatEntry.fileOffset(raw));
                commit(chunk, BatEntry.fileOffset(sbRaw), List.of(), nextFree, pIdx, full, -1, 0);
                b.setPayload(block, full);
                return;
            }
            long sbIdx = -1;
            long end = nextFree;
            List<SectorUpdate> pages;
            if (state == BatEntry.FULLY_PRESENT) {
                boolean fresh = BatEntry.state(sbRaw) != BatEntry.SB_PRESENT;
                if (fresh) {
                    sbRaw = BatEntry.encode(BatEntry.SB_PRESENT, end);
                    sbIdx = b.bitmapIndex(chunk);
                    end += Layout.MIB;
                    file.truncate(end);
                }
                long sb = BatEntry.fileOffset(sbRaw);
                List<SectorUpdate> all = bitmaps.changes(chunk, sb, firstBit(bat, block, 0), spb, true, List.of(), fresh);
                pages = bitmaps.changes(chunk, sb, firstBit(bat, block, firstSector), count, false, all, fresh);
                for (SectorUpdate u : all) {
                    if (pages.stream().noneMatch(c -> c.fileOffset() == u.fileOffset())) {
                        pages.add(u);
                    }
                }
            } else {
                pages = bitmaps.changes(chunk, BatEntry.fileOffset(sbRaw), firstBit(bat, block, firstSector), count, present,
                        List.of(), false);
            }
            long newRaw = BatEntry.encode(BatEntry.PARTIALLY_PRESENT, BatEntry.fileOffset(raw));
            commit(chunk, BatEntry.fileOffset(sbRaw), pages, end, pIdx, newRaw, sbIdx, sbRaw);
            if (sbIdx >= 0) {
                b.setBitmap(chunk, sbRaw);
            }
            b.setPayload(block, newRaw);
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
        lockForChange();
        try {
            BatTable b = bat;
            long raw = b.payload(block);
            if (BatEntry.state(raw) == newState && !BatEntry.hasData(newState)) {
                return;
            }
            beginWritesLocked();
            long newRaw = BatEntry.encode(newState, 0);
            commit(-1, 0, List.of(), nextFree, b.payloadIndex(block), newRaw, -1, 0);
            b.setPayload(block, newRaw);
            if (BatEntry.hasData(BatEntry.state(raw))) {
                punch(BatEntry.fileOffset(raw), blockSize());
            }
        } finally {
            lock.unlock();
        }
    }

    private void punch(long offset, long length) throws IOException {
        try {
            file.punchHole(offset, length);
        } catch (NativeException e) {
            if (e.errno() != Errno.ENOTSUP) { // no hole punching here: the space stays, unreferenced
                throw e;
            }
        }
    }

    /**
     * Changes the virtual size. The BAT grows in its region while the region has room, else moves
     * to a new region at the end of the file (written before it is referenced). The size item,
     * region tables and BAT pages change through the log, the size last when growing (entries past
     * the old end are cleared first) and first when shrinking; bytes past the old end inside the
     * old last block are zeroed before a grow exposes them, whatever an earlier shrink left there.
     */
    void resize(long newSize) throws IOException {
        DiskResize.check(path, newSize, logicalSectorSize(), items.fileParameters().leaveBlocksAllocated());
        lockForChange();
        try {
            MetadataItems it = items;
            BatTable old = bat;
            long oldSize = it.virtualDiskSize();
            if (newSize == oldSize) {
                return;
            }
            beginWritesLocked();
            DiskResize plan = new DiskResize(file, path, old, differencing(), metadataRegion.fileOffset() + it.sizeItemOffset(), nextFree);
            BatTable next = newSize > oldSize ? plan.grow(newSize) : plan.shrink(newSize);
            log.commit(plan.updates(), durableSize, plan.fileEnd());
            durableSize = Math.max(durableSize, plan.fileEnd());
            nextFree = plan.fileEnd();
            if (newSize > oldSize) {
                bitmaps.resize(next.layout().bitmapBlocks());
                bat = next;
                items = it.withVirtualDiskSize(newSize);
            } else {
                items = it.withVirtualDiskSize(newSize);
                bat = next;
            }
            for (long offset : plan.releasedBlocks()) {
                punch(offset, blockSize());
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Logs the bitmap pages (of chunk {@code chunk}, whose bitmap block is at {@code sbOffset}) and
     * the BAT pages of the (up to two) changed entries; then caches the bitmap pages.
     */
    private void commit(long chunk, long sbOffset, List<SectorUpdate> bitmapPages, long lastFileOffset, long idxA, long rawA,
                        long idxB, long rawB) throws IOException {
        BatTable b = bat;
        List<SectorUpdate> updates = new ArrayList<>(bitmapPages);
        updates.add(b.pageOf(idxA, idxA, rawA, idxB, rawB));
        if (idxB >= 0 && !BatTable.samePage(idxA, idxB)) {
            updates.add(b.pageOf(idxB, idxA, rawA, idxB, rawB));
        }
        log.commit(updates, durableSize, lastFileOffset);
        durableSize = Math.max(durableSize, lastFileOffset);
        for (SectorUpdate p : bitmapPages) {
            bitmaps.replace(chunk, (int) ((p.fileOffset() - sbOffset) / Layout.LOG_SECTOR), p.data());
        }
    }

    /**
     * Takes the lock for a synchronous metadata change, once no block allocation is in flight
     * (another queue's: waited for, at most {@link #CHANGE_WAIT_NANOS}; this thread's own cannot
     * be waited for and is an error).
     */
    private void lockForChange() throws IOException {
        long deadline = System.nanoTime() + CHANGE_WAIT_NANOS;
        while (true) {
            lock.lock();
            if (allocating == null) {
                return;
            }
            boolean own = allocating.owner == Thread.currentThread();
            lock.unlock();
            if (own) {
                throw new IOException("a block allocation of this queue is still being written");
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("a block allocation of another queue did not finish in 30 s");
            }
            Thread.yield();
        }
    }

    /**
     * Starts giving a dynamic disk's block file space through the log on the caller's ring
     * ({@code RUN}: write the stages, then {@link #finishAllocation}); says the block has data
     * now ({@code DONE}); or names the allocation in flight to wait for ({@code WAIT}). Blocks
     * asked for while one is in flight are remembered and all get space in the next one (one
     * log entry for many blocks), so allocations do not queue one by one behind the log.
     */
    void beginAllocation(long block, WriteBackStep step) throws IOException {
        lock.lock();
        try {
            if (BatEntry.hasData(BatEntry.state(bat.payload(block)))) {
                step.done();
                return;
            }
            if (allocating != null) {
                if (!allocating.covers(block)) {
                    queuedBlocks.add(block);
                }
                step.waitFor(allocating);
                return;
            }
            beginWritesLocked();
            queuedBlocks.add(block);
            List<Long> blocks = new ArrayList<>();
            for (long b : queuedBlocks) {
                if (!BatEntry.hasData(BatEntry.state(bat.payload(b))) && blocks.size() < MAX_BLOCKS_PER_ALLOCATION) {
                    blocks.add(b);
                }
            }
            queuedBlocks.clear();
            long[] raws = new long[blocks.size()];
            long[] overrides = new long[2 * blocks.size()];
            long end = nextFree;
            for (int i = 0; i < raws.length; i++) {
                raws[i] = BatEntry.encode(BatEntry.FULLY_PRESENT, end);
                end += blockSize();
                overrides[2 * i] = bat.payloadIndex(blocks.get(i));
                overrides[2 * i + 1] = raws[i];
            }
            List<SectorUpdate> pages = bat.pagesWith(overrides);
            file.truncate(end);
            List<LogWriter.Entry> entries = log.prepare(pages, durableSize, end);
            allocating = new BlockAllocation(blocks, raws, nextFree, end, storage, entries, log.afterEntryDurable());
            nextFree = end;
            step.run(allocating);
        } finally {
            lock.unlock();
        }
    }

    /**
     * The allocation's log writes are durable ({@code ok}): the BAT in memory points at the new
     * space. Or one failed (typically ENOSPC: the log and BAT regions of a sparse file need
     * space too): the BAT in memory stays as it was, so its blocks are asked for again by the
     * next write, and the image goes on taking changes once the cause is gone. Every later entry
     * is its own tail, so a torn entry is never replayed. Its file space is given back only if
     * no stage became durable: after that, a log entry pointing at it may be replayed or its BAT
     * sectors may be partly in place, so the space stays reserved (it reads as zeros, like the
     * blocks before) rather than ever being handed to another block.
     * Returns the requests waiting on it.
     */
    List<Runnable> finishAllocation(BlockAllocation a, boolean ok) {
        lock.lock();
        try {
            if (ok) {
                durableSize = Math.max(durableSize, a.fileEnd);
                for (int i = 0; i < a.blocks.size(); i++) {
                    bat.setPayload(a.blocks.get(i), a.newRaws[i]);
                }
            } else if (a.durableStages() == 0 && nextFree == a.fileEnd) {
                nextFree = a.fileStart; // one allocation at a time: nothing was placed after it
            }
            allocating = null;
            return a.waiters;
        } finally {
            lock.unlock();
            a.release();
        }
    }

    /** Adds a waiter to the allocation in flight; false if it is over already. */
    boolean awaitAllocation(BlockAllocation a, Runnable waiter) {
        lock.lock();
        try {
            if (allocating != a) {
                return false;
            }
            a.waiters.add(waiter);
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** The allocation in flight, or null. */
    BlockAllocation allocationInFlight() {
        lock.lock();
        try {
            return allocating;
        } finally {
            lock.unlock();
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
        lockForChange();
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
