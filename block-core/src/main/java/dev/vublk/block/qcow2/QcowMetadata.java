package dev.vublk.block.qcow2;

import dev.vublk.block.MappingRuns;
import dev.vublk.block.WriteBackStep;
import dev.vublk.block.storage.FileStorage;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.StampedLock;

/**
 * The metadata of one qcow2 image, shared by every queue thread: the header, the lock, and the
 * parts that each handle one concern: {@link L2Tables} (L1 and the L2 cache), {@link ClusterLookup}
 * (guest ranges to mappings), {@link ClusterWrites} (write planning, allocation, zeroing),
 * {@link RefcountManager}, {@link MetadataFlusher} (write ordering) and {@link MetadataResize}.
 *
 * <p>Lookups that hit the cache take only the read lock; anything that changes a table takes the
 * write lock, and data I/O always happens outside it. The lock is a {@link StampedLock}: its read
 * lock does not allocate per acquisition as a ReentrantReadWriteLock's does under several
 * readers, and nothing here takes a lock while holding one.
 */
public final class QcowMetadata {
    /**
     * Upper bound of the default budget of each cache: QEMU's own default L2 cache maximum.
     * Without it an image with 512-byte clusters would size its caches for 2 Mi tables.
     */
    static final long MAX_DEFAULT_CACHE_BYTES = 32L << 20;
    static final long MIN_DEFAULT_CACHE_BYTES = 1L << 20;
    /** Tables per cache whatever the budget: a few lookups must always find room. */
    static final int MIN_CACHE_TABLES = 16;
    /** Tables per cache at most (an explicit budget with tiny clusters): bounds the hash arrays. */
    static final int MAX_CACHE_TABLES = 1 << 20;

    private final NativeFile dataFile;
    private final FileStorage dataStorage;
    private final FileStorage imageStorage;
    private final boolean hasBacking;
    private final int clusterSize;
    private final StampedLock lock = new StampedLock();
    private final L2Tables tables;
    private final ClusterLookup lookup;
    private final RefcountManager refcounts;
    private final ClusterWrites writes;
    private final MetadataFlusher flusher;
    private final MetadataResize resizer;
    private final NativeFile file;
    private final List<InflightWrites> inflight = new CopyOnWriteArrayList<>();
    private volatile QcowHeader header;
    private volatile IOException failure;

    /**
     * @param directAlignment the O_DIRECT unit of {@code dataFile} (ignored when it is buffered)
     */
    QcowMetadata(NativeFile file, NativeFile dataFile, int directAlignment, QcowHeader header, long[] l1, boolean hasBacking,
                 long cacheBytes) throws IOException, QcowFormatException {
        this.file = file;
        this.dataFile = dataFile;
        this.dataStorage = new FileStorage(dataFile, directAlignment);
        this.imageStorage = FileStorage.buffered(file);
        this.hasBacking = hasBacking;
        this.header = header;
        this.clusterSize = header.clusterSize();
        long budget = cacheBytes > 0 ? cacheBytes : defaultCacheBytes(header);
        int cacheTables = (int) Math.min(MAX_CACHE_TABLES, Math.max(MIN_CACHE_TABLES, budget / clusterSize));
        Lock read = lock.asReadLock();
        Lock write = lock.asWriteLock();
        this.tables = new L2Tables(file, header, l1, cacheTables);
        this.lookup = new ClusterLookup(tables, header, read, write, dataStorage, imageStorage);
        if (file.writable()) {
            this.refcounts = new RefcountManager(file, header, RefcountManager.loadTable(file, header), cacheTables,
                    this::tableMoved);
            this.writes = new ClusterWrites(this, tables, refcounts, dataFile, header, hasBacking, lock);
            this.flusher = new MetadataFlusher(this, tables, refcounts, imageStorage, dataStorage, header.hasDataFile(), write);
            this.resizer = new MetadataResize(this, tables, refcounts, writes, flusher, file, write);
        } else {
            this.refcounts = null;
            this.writes = null;
            this.flusher = null;
            this.resizer = null;
        }
    }

    /**
     * Per cache (L2 tables, refcount blocks) when the options give no budget: enough L2 tables
     * to map the whole image up to 64 GiB, twice over, but never more than
     * {@link #MAX_DEFAULT_CACHE_BYTES}.
     */
    static long defaultCacheBytes(QcowHeader h) {
        long l2Tables = h.l1EntriesFor(Math.min(h.size(), 64L << 30));
        return Math.clamp(2 * l2Tables * h.clusterSize(), MIN_DEFAULT_CACHE_BYTES, MAX_DEFAULT_CACHE_BYTES);
    }

    /** Reads and checks the active L1 table. */
    static long[] loadL1(NativeFile file, QcowHeader h) throws IOException, QcowFormatException {
        long[] l1 = RefcountManager.readLongs(file, h.l1TableOffset(), h.l1Size());
        long fileSize = file.size();
        for (int i = 0; i < l1.length; i++) {
            long off = L2Entry.offset(l1[i]);
            if (off == 0) {
                continue;
            }
            if ((off & (h.clusterSize() - 1)) != 0) {
                throw new QcowFormatException("L1 entry " + i + " points at unaligned L2 table 0x" + Long.toHexString(off));
            }
            if (off >= fileSize) {
                throw new QcowFormatException("L1 entry " + i + " points at L2 table 0x" + Long.toHexString(off)
                        + " past the end of the file");
            }
            if (QcowHeader.overlaps(off, h.clusterSize(), 0, h.clusterSize())) {
                throw new QcowFormatException("L1 entry " + i + " points at the header cluster");
            }
        }
        return l1;
    }

    public QcowHeader header() { return header; }

    public long size() { return header.size(); }

    public int clusterSize() { return clusterSize; }

    NativeFile dataFile() { return dataFile; }

    /** Where guest data is read and written. */
    FileStorage dataStorage() { return dataStorage; }

    boolean hasBacking() { return hasBacking; }

    /** Set once metadata could not be written: the image then fails every request. */
    IOException failure() { return failure; }

    /** Records a failed metadata write; returns the exception every later write gets. */
    IOException fail(IOException cause) {
        failure = new IOException("metadata write failed, image is now read-only: " + cause.getMessage(), cause);
        return failure;
    }

    void checkWritable() throws IOException {
        if (refcounts == null) {
            throw new IOException("image is read-only");
        }
        if (failure != null) {
            throw failure;
        }
    }

    // ---- lookups ----------------------------------------------------------------------------

    /** Caches an L2 table a queue read on its ring (see {@link L2Tables#install}). */
    void fetched(long offset, long token, MemorySegment data) throws IOException {
        if (data.byteSize() != clusterSize) {
            throw new IOException("fetched " + data.byteSize() + " bytes of an L2 table of " + clusterSize);
        }
        byte[] bytes = data.toArray(ValueLayout.JAVA_BYTE);
        lock.asWriteLock().lock();
        try {
            tables.install(offset, token, bytes);
        } finally {
            lock.asWriteLock().unlock();
        }
    }

    /**
     * Where a write to a cluster whose L2 table is allocated but not cached should fetch it
     * first: the table's offset, or -1 when no fetch is needed (cached, or not allocated).
     */
    long l2ToFetch(long pos) throws IOException {
        int l1Index = tables.l1Index(pos);
        lock.asReadLock().lock();
        try {
            long off = tables.l2Offset(l1Index);
            return off == 0 || tables.cached(l1Index) != null ? -1 : off;
        } finally {
            lock.asReadLock().unlock();
        }
    }

    long fetchToken(long pos) {
        return tables.fetchToken(tables.l1Index(pos));
    }

    FileStorage imageStorage() { return imageStorage; }

    /** The runs of {@code [offset, offset + length)}, adjacent ones of one kind merged. */
    void map(long offset, long length, MappingRuns out) throws IOException {
        lookup.map(offset, length, out);
    }

    // ---- writes -----------------------------------------------------------------------------

    /** Registers a queue's in-place writes, which delay frees of the clusters they target. */
    InflightWrites newInflightWrites() {
        InflightWrites w = new InflightWrites();
        inflight.add(w);
        return w;
    }

    void forget(InflightWrites w) {
        inflight.remove(w);
    }

    /** Whether any queue is writing in place into {@code [offset, offset + length)}; write lock held. */
    boolean writeInFlight(long offset, long length) {
        for (InflightWrites w : inflight) {
            if (w.overlaps(offset, offset + length)) {
                return true;
            }
        }
        return false;
    }

    /** See {@link ClusterWrites#inPlace}. */
    long inPlace(long pos, long end, InflightWrites w, int runSlot) throws IOException {
        checkWritable();
        return writes.inPlace(pos, end, w, runSlot);
    }

    /** See {@link ClusterWrites#plan}. */
    WritePlan planWrite(long pos, long end, InflightWrites w, int runSlot) throws IOException {
        checkWritable();
        return writes.plan(pos, end, w, runSlot);
    }

    List<Runnable> commit(PendingAllocation p) throws IOException {
        return writes.commit(p);
    }

    List<Runnable> abort(PendingAllocation p) {
        return writes.abort(p);
    }

    /** See {@link ClusterWrites#zero}. */
    WritePlan zero(long pos, long end, boolean discard, boolean unmap) throws IOException {
        checkWritable();
        return writes.zero(pos, end, discard, unmap);
    }

    /**
     * Whether dirty metadata must be written back before another change: either cache is full
     * with half of it dirty, or frees pile up, so a guest that never flushes cannot grow the
     * caches. Asked before an operation that may dirty more, never after one (an allocation
     * already made must commit, not wait on a write-back). Each such operation dirties at most
     * one L2 table and three refcount blocks, so a full cache stays within its budget plus that
     * much per allocation in flight. The counters are read without the lock: a stale value only
     * moves the write-back one operation later.
     */
    boolean needsWriteBack() {
        return refcounts != null && (tables.needsWriteBack() || refcounts.needsWriteBack());
    }

    /** See {@link MetadataFlusher#begin}. */
    void beginWriteBack(WriteBackStep step) throws IOException {
        checkWritable();
        flusher.begin(step);
    }

    /** See {@link MetadataFlusher#finish}. */
    List<Runnable> writtenBack(MetadataFlusher.WriteBack wb, IOException cause) {
        return flusher.finish(wb, cause);
    }

    boolean awaitWriteBack(MetadataFlusher.WriteBack wb, Runnable waiter) {
        return flusher.await(wb, waiter);
    }

    boolean await(PendingAllocation p, Runnable waiter) {
        return writes.await(p, waiter);
    }

    // ---- flush, header, resize --------------------------------------------------------------

    /** A synchronous write-back (see {@link MetadataFlusher}); nothing to do for a read-only image. */
    public void flush() throws IOException {
        if (flusher != null) {
            flusher.flush();
        }
    }

    void flushAll() throws IOException {
        if (flusher != null) {
            flusher.flushAll();
        }
    }

    void resize(long newSize) throws IOException {
        checkWritable();
        resizer.resize(newSize);
    }

    /** Writes the fixed header fields synchronously; callers hold the write lock. */
    void writeHeader(QcowHeader updated) throws IOException {
        file.writeBytes(0, updated.encodeFixed());
        file.fdatasync();
        header = updated;
    }

    private void tableMoved(long offset, int clusters) throws IOException {
        writeHeader(header.withRefcountTable(offset, clusters));
    }
}
