package dev.vublk.block.qcow2;

import dev.vublk.block.Mapping;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The metadata of one qcow2 image, shared by every queue thread: header, L1, the L2 cache and
 * the refcounts. Lookups that hit the cache take only the read lock; anything that changes a
 * table (allocation, zeroing, commit of a written cluster) takes the write lock, and data I/O
 * always happens outside it. Cache misses read the table synchronously under the write lock:
 * with the default cache covering the whole image they happen once per table.
 */
public final class QcowMetadata {
    private final NativeFile file;
    private final NativeFile dataFile;
    private final boolean external;
    private final boolean hasBacking;
    private final int clusterBits;
    private final int clusterSize;
    private final int l2Bits;
    private final boolean extended;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final ReentrantLock flushLock = new ReentrantLock();
    private final TableCache l2Cache;
    private final RefcountManager refcounts;
    private final Map<Long, PendingAllocation> pending = new HashMap<>();
    private volatile QcowHeader header;
    private long[] l1;
    private boolean l1Dirty;
    private volatile IOException failure;

    QcowMetadata(NativeFile file, NativeFile dataFile, QcowHeader header, long[] l1, boolean hasBacking,
                 long cacheBytes) throws IOException, QcowFormatException {
        this.file = file;
        this.dataFile = dataFile;
        this.external = header.hasDataFile();
        this.hasBacking = hasBacking;
        this.header = header;
        this.clusterBits = header.clusterBits();
        this.clusterSize = header.clusterSize();
        this.extended = header.extendedL2();
        this.l2Bits = Integer.numberOfTrailingZeros(header.l2Entries());
        this.l1 = l1;
        long budget = cacheBytes > 0 ? cacheBytes : defaultCacheBytes(header);
        int tables = (int) Math.min(1 << 20, Math.max(16, budget / clusterSize));
        this.l2Cache = new TableCache(tables);
        this.refcounts = file.writable()
                ? new RefcountManager(file, header, RefcountManager.loadTable(file, header), tables, this::tableMoved)
                : null;
    }

    /** Enough L2 tables for the whole image up to 64 GiB, plus as many refcount blocks. */
    static long defaultCacheBytes(QcowHeader h) {
        long l2Tables = h.l1EntriesFor(Math.min(h.size(), 64L << 30));
        return Math.max(1L << 20, 2 * l2Tables * h.clusterSize());
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

    boolean hasBacking() { return hasBacking; }

    /** Set once metadata could not be written: the image then fails every request. */
    IOException failure() { return failure; }

    // ---- lookups ----------------------------------------------------------------------------

    /**
     * Appends the mappings of {@code [offset, offset + length)} to {@code out}, adjacent
     * mappings of one kind merged. Throws for damaged metadata (the caller answers -EIO).
     */
    public void map(long offset, long length, List<Mapping> out) throws IOException {
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            int l1Index = (int) (pos >>> (clusterBits + l2Bits));
            long tableEnd = Math.min(end, ((long) l1Index + 1) << (clusterBits + l2Bits));
            lock.readLock().lock();
            MetadataTable table;
            try {
                long l2Offset = l2Offset(l1Index);
                if (l2Offset == 0) {
                    add(out, Mapping.backing(pos, tableEnd - pos));
                    pos = tableEnd;
                    continue;
                }
                table = l2Cache.peek(l2Offset);
                if (table != null) {
                    while (pos < tableEnd) {
                        long next = Math.min(tableEnd, ((pos >>> clusterBits) + 1) << clusterBits);
                        decode(table, pos, next, out);
                        pos = next;
                    }
                    continue;
                }
            } finally {
                lock.readLock().unlock();
            }
            lock.writeLock().lock();
            try {
                loadL2(l2Offset(l1Index));
            } finally {
                lock.writeLock().unlock();
            }
        }
    }

    private long l2Offset(int l1Index) throws IOException {
        if (l1Index >= l1.length) {
            return 0;
        }
        long off = L2Entry.offset(l1[l1Index]);
        if ((off & (clusterSize - 1)) != 0) {
            throw new IOException("L1 entry " + l1Index + " points at unaligned L2 table 0x" + Long.toHexString(off));
        }
        return off;
    }

    private MetadataTable loadL2(long offset) throws IOException {
        return l2Cache.get(offset, o -> file.readBytes(o, clusterSize));
    }

    private int l2Index(long guest) {
        return (int) ((guest >>> clusterBits) & ((1 << l2Bits) - 1));
    }

    private long entry(MetadataTable t, int index) {
        return t.getLong(extended ? 2 * index : index);
    }

    private long bitmap(MetadataTable t, int index) {
        return extended ? t.getLong(2 * index + 1) : 0;
    }

    /** Decodes {@code [pos, end)}, which lies inside one cluster. */
    private void decode(MetadataTable table, long pos, long end, List<Mapping> out) throws IOException {
        int index = l2Index(pos);
        long e = entry(table, index);
        long clusterStart = pos & ~(long) (clusterSize - 1);
        if (L2Entry.compressed(e)) {
            if (external) {
                throw new IOException("compressed cluster in an image with an external data file");
            }
            long coff = L2Entry.compressedOffset(e, clusterBits);
            add(out, new Mapping(Mapping.Kind.COMPRESSED, pos, end - pos, file, coff,
                    L2Entry.compressedLength(e, clusterBits)));
            return;
        }
        long host = L2Entry.offset(e);
        if ((host & (clusterSize - 1)) != 0) {
            throw new IOException("L2 entry for guest cluster " + (pos >>> clusterBits) + " has unaligned offset 0x"
                    + Long.toHexString(host));
        }
        boolean present = host != 0 || (external && L2Entry.copied(e));
        if (!extended) {
            if (header.version() >= 3 && (e & L2Entry.ZERO) != 0) {
                add(out, Mapping.zero(pos, end - pos));
            } else if (present) {
                add(out, Mapping.data(pos, end - pos, dataFile, host + (pos - clusterStart)));
            } else {
                add(out, Mapping.backing(pos, end - pos));
            }
            return;
        }
        long bits = bitmap(table, index);
        int subSize = clusterSize / L2Entry.SUBCLUSTERS;
        while (pos < end) {
            int sub = (int) ((pos - clusterStart) / subSize);
            long subEnd = Math.min(end, clusterStart + (long) (sub + 1) * subSize);
            boolean alloc = L2Entry.subAllocated(bits, sub);
            boolean zero = L2Entry.subZero(bits, sub);
            if (alloc && (zero || !present)) {
                throw new IOException("invalid subcluster bitmap for guest cluster " + (pos >>> clusterBits));
            }
            if (alloc) {
                add(out, Mapping.data(pos, subEnd - pos, dataFile, host + (pos - clusterStart)));
            } else if (zero) {
                add(out, Mapping.zero(pos, subEnd - pos));
            } else {
                add(out, Mapping.backing(pos, subEnd - pos));
            }
            pos = subEnd;
        }
    }

    private static void add(List<Mapping> out, Mapping m) {
        if (!out.isEmpty()) {
            Mapping last = out.getLast();
            if (last.kind() == m.kind() && last.guestEnd() == m.guestOffset() && m.kind() != Mapping.Kind.COMPRESSED
                    && (m.kind() != Mapping.Kind.DATA
                        || (last.file() == m.file() && last.hostOffset() + last.length() == m.hostOffset()))) {
                out.set(out.size() - 1, new Mapping(m.kind(), last.guestOffset(), last.length() + m.length(),
                        last.file(), last.hostOffset(), 0));
                return;
            }
        }
        out.add(m);
    }

    // ---- writes -----------------------------------------------------------------------------

    /** Whether {@code [pos, end)} of a cluster with this entry can be overwritten where it is. */
    private boolean writableInPlace(long e, long bits, long pos, long end) {
        if (L2Entry.compressed(e) || !L2Entry.copied(e)) {
            return false;
        }
        if (L2Entry.offset(e) == 0 && !external) {
            return false;
        }
        if (!extended) {
            return (e & L2Entry.ZERO) == 0;
        }
        long clusterStart = pos & ~(long) (clusterSize - 1);
        int subSize = clusterSize / L2Entry.SUBCLUSTERS;
        long need = L2Entry.subRange((int) ((pos - clusterStart) / subSize), (int) ((end - 1 - clusterStart) / subSize));
        return (bits & need) == need;
    }

    /**
     * Decides how to write {@code [pos, end)}, a range inside one guest cluster. The fast path
     * (cluster already ours) takes only the read lock.
     */
    WritePlan planWrite(long pos, long end) throws IOException {
        checkWritable();
        int l1Index = (int) (pos >>> (clusterBits + l2Bits));
        lock.readLock().lock();
        try {
            long l2Offset = l2Offset(l1Index);
            MetadataTable t = l2Offset == 0 || !L2Entry.copied(l1[l1Index]) ? null : l2Cache.peek(l2Offset);
            if (t != null) {
                int i = l2Index(pos);
                long e = entry(t, i);
                if (writableInPlace(e, bitmap(t, i), pos, end)) {
                    return new WritePlan.InPlace(L2Entry.offset(e) + (pos & (clusterSize - 1)));
                }
            }
        } finally {
            lock.readLock().unlock();
        }
        lock.writeLock().lock();
        try {
            long gc = pos >>> clusterBits;
            PendingAllocation busy = pending.get(gc);
            if (busy != null) {
                return new WritePlan.Wait(busy);
            }
            MetadataTable t = writableL2(l1Index);
            int i = l2Index(pos);
            long e = entry(t, i);
            long bits = bitmap(t, i);
            if (writableInPlace(e, bits, pos, end)) {
                return new WritePlan.InPlace(L2Entry.offset(e) + (pos & (clusterSize - 1)));
            }
            long clusterStart = gc << clusterBits;
            long old = L2Entry.offset(e);
            boolean ownData = !L2Entry.compressed(e) && L2Entry.copied(e) && (old != 0 || external);
            long cowStart = clusterStart;
            long cowEnd = clusterStart + clusterSize;
            if (extended && (ownData || (old == 0 && !L2Entry.compressed(e)))) {
                // Only the subclusters touched change state; partial ones not yet allocated get old data copied.
                int subSize = clusterSize / L2Entry.SUBCLUSTERS;
                int first = (int) ((pos - clusterStart) / subSize);
                int last = (int) ((end - 1 - clusterStart) / subSize);
                cowStart = L2Entry.subAllocated(bits, first) ? pos : clusterStart + (long) first * subSize;
                cowEnd = L2Entry.subAllocated(bits, last) ? end : clusterStart + (long) (last + 1) * subSize;
            }
            long host;
            boolean fresh;
            if (ownData) {
                host = old; // a preallocated zero cluster or partly allocated subclusters: keep the host cluster
                fresh = false;
            } else if (external) {
                host = clusterStart; // external data files map guest offsets one to one
                fresh = false;
            } else {
                host = refcounts.allocate(1);
                fresh = true;
            }
            PendingAllocation p = new PendingAllocation(gc, host, cowStart, cowEnd, fresh);
            pending.put(gc, p);
            return new WritePlan.Allocate(p);
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Points the cluster at its newly written data; returns the waiters to wake. */
    List<Runnable> commit(PendingAllocation p) throws IOException {
        lock.writeLock().lock();
        try {
            pending.remove(p.guestCluster());
            long clusterStart = p.guestCluster() << clusterBits;
            MetadataTable t = writableL2((int) (clusterStart >>> (clusterBits + l2Bits)));
            int i = l2Index(clusterStart);
            long e = entry(t, i);
            if (extended) {
                int subSize = clusterSize / L2Entry.SUBCLUSTERS;
                long mask = L2Entry.subRange((int) ((p.cowStart() - clusterStart) / subSize),
                        (int) ((p.cowEnd() - 1 - clusterStart) / subSize));
                long bits = L2Entry.compressed(e) || (L2Entry.offset(e) != p.hostOffset() && L2Entry.offset(e) != 0)
                        ? 0 : bitmap(t, i);
                bits = (bits | mask) & ~(mask << 32);
                t.setLong(2 * i + 1, bits);
                t.setLong(2 * i, p.hostOffset() | L2Entry.COPIED);
            } else {
                t.setLong(i, p.hostOffset() | L2Entry.COPIED);
            }
            release(e, p.hostOffset());
            return p.waiters();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Gives up an allocation whose data write failed; returns the waiters to wake. */
    List<Runnable> abort(PendingAllocation p) {
        lock.writeLock().lock();
        try {
            pending.remove(p.guestCluster());
            if (p.newCluster()) {
                try {
                    refcounts.adjust(p.hostOffset() >>> clusterBits, -1); // never referenced by any L2 entry
                } catch (IOException e) {
                    // Leaked at worst.
                }
            }
            return p.waiters();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Frees, after the next flush, what entry {@code old} referenced unless it is still {@code keep}. */
    private void release(long old, long keep) {
        if (L2Entry.compressed(old)) {
            refcounts.freeLater(L2Entry.compressedOffset(old, clusterBits), L2Entry.compressedLength(old, clusterBits));
            return;
        }
        long off = L2Entry.offset(old);
        if (off != 0 && off != keep && !external) {
            refcounts.freeLater(off, clusterSize);
        }
    }

    /** The L2 table for {@code l1Index}, allocated or copied so it may be modified; write lock held. */
    private MetadataTable writableL2(int l1Index) throws IOException {
        if (l1Index >= l1.length) {
            throw new IOException("guest offset beyond the L1 table");
        }
        long l1e = l1[l1Index];
        long off = l2Offset(l1Index);
        if (off != 0 && L2Entry.copied(l1e)) {
            return loadL2(off);
        }
        byte[] bytes = off == 0 ? new byte[clusterSize] : loadL2(off).bytes.clone();
        long fresh = refcounts.allocate(1);
        MetadataTable t = new MetadataTable(fresh, bytes);
        t.dirty = true;
        l2Cache.insert(t);
        l1[l1Index] = fresh | L2Entry.COPIED;
        l1Dirty = true;
        if (off != 0) {
            refcounts.freeLater(off, clusterSize); // the shared table stays with the snapshot that holds it
        }
        return t;
    }

    // ---- zeroing and discard ----------------------------------------------------------------

    /**
     * Makes {@code [pos, end)} of one cluster read as zeros ({@code discard} false) or as
     * unallocated ({@code discard} true) in metadata. The range is a whole cluster, or whole
     * subclusters with extended L2. Returns DONE, WAIT, or WRITE_ZEROS when only a data write can do it.
     */
    WritePlan zero(long pos, long end, boolean discard, boolean unmap) throws IOException {
        checkWritable();
        lock.writeLock().lock();
        try {
            long gc = pos >>> clusterBits;
            PendingAllocation busy = pending.get(gc);
            if (busy != null) {
                return new WritePlan.Wait(busy);
            }
            int l1Index = (int) (pos >>> (clusterBits + l2Bits));
            long clusterStart = gc << clusterBits;
            boolean whole = pos == clusterStart && end == clusterStart + clusterSize;
            if (discard && l2Offset(l1Index) == 0) {
                return WritePlan.DONE;
            }
            if (!discard && header.version() < 3 && hasBacking) {
                return WritePlan.WRITE_ZEROS; // v2 has no zero flag: only written zeros hide the backing file
            }
            MetadataTable t = writableL2(l1Index);
            int i = l2Index(pos);
            long e = entry(t, i);
            if (!extended) {
                boolean zeroFlag = !discard && header.version() >= 3;
                long keep = zeroFlag && !unmap && !L2Entry.compressed(e) && L2Entry.copied(e) && L2Entry.offset(e) != 0
                        ? L2Entry.offset(e) | L2Entry.COPIED : 0;
                long updated = zeroFlag ? keep | L2Entry.ZERO : 0;
                if (updated != e) {
                    t.setLong(i, updated);
                    release(e, L2Entry.offset(keep));
                    punchExternal(e, keep);
                }
                return WritePlan.DONE;
            }
            long bits = bitmap(t, i);
            boolean ownData = !L2Entry.compressed(e) && L2Entry.copied(e);
            if (whole && (unmap || discard || !ownData)) {
                t.setLong(2 * i, 0);
                t.setLong(2 * i + 1, discard ? 0 : L2Entry.ALL_ZERO);
                release(e, 0);
                punchExternal(e, 0);
                return WritePlan.DONE;
            }
            if (!ownData && (L2Entry.compressed(e) || L2Entry.offset(e) != 0)) {
                return discard ? WritePlan.DONE : WritePlan.WRITE_ZEROS;
            }
            int subSize = clusterSize / L2Entry.SUBCLUSTERS;
            long mask = L2Entry.subRange((int) ((pos - clusterStart) / subSize), (int) ((end - 1 - clusterStart) / subSize));
            bits &= ~mask;
            bits = discard ? bits & ~(mask << 32) : bits | (mask << 32);
            t.setLong(2 * i + 1, bits);
            return WritePlan.DONE;
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** External data files have no refcounts: give the space back right away. */
    private void punchExternal(long old, long keep) {
        if (!external || !L2Entry.copied(old) || L2Entry.offset(keep) != 0) {
            return;
        }
        try {
            dataFile.punchHole(L2Entry.offset(old), clusterSize);
        } catch (IOException e) {
            // Holes are an optimisation only.
        }
    }

    private void checkWritable() throws IOException {
        if (refcounts == null) {
            throw new IOException("image is read-only");
        }
        if (failure != null) {
            throw failure;
        }
    }

    // ---- flush, header, resize --------------------------------------------------------------

    /**
     * Writes dirty metadata in dependency order: refcount blocks, then the refcount table, then
     * L2 tables, then L1, each step synced before the next. The snapshot is taken atomically under
     * the write lock, so every L2 entry written refers to a cluster whose refcount is in the blocks
     * written before it. Frees gathered up to the snapshot are applied afterwards.
     */
    public void flush() throws IOException {
        if (refcounts == null) {
            return;
        }
        flushLock.lock();
        try {
            List<TableWrite> blocks, l2s;
            TableWrite table, l1Write;
            List<long[]> frees;
            lock.writeLock().lock();
            try {
                if (failure != null) {
                    throw failure;
                }
                blocks = refcounts.takeDirtyBlocks();
                table = refcounts.takeDirtyTable();
                l2s = new java.util.ArrayList<>();
                for (MetadataTable t : l2Cache.dirty()) {
                    l2s.add(new TableWrite(t.offset, t.bytes.clone()));
                    t.dirty = false;
                }
                l1Write = l1Dirty ? l1Bytes() : null;
                l1Dirty = false;
                frees = refcounts.takeFrees();
            } finally {
                lock.writeLock().unlock();
            }
            try {
                if (external && !l2s.isEmpty()) {
                    dataFile.fdatasync();
                }
                writeStep(blocks);
                writeStep(table == null ? List.of() : List.of(table));
                writeStep(l2s);
                writeStep(l1Write == null ? List.of() : List.of(l1Write));
            } catch (IOException e) {
                failure = new IOException("metadata write failed, image is now read-only: " + e.getMessage(), e);
                throw failure;
            }
            if (!frees.isEmpty()) {
                lock.writeLock().lock();
                try {
                    refcounts.applyFrees(frees);
                } finally {
                    lock.writeLock().unlock();
                }
            }
        } finally {
            flushLock.unlock();
        }
    }

    /** Flushes until nothing is dirty: frees applied by one flush are written by the next. */
    void flushAll() throws IOException {
        flush();
        flush();
    }

    private void writeStep(List<TableWrite> writes) throws IOException {
        if (writes.isEmpty()) {
            return;
        }
        for (TableWrite w : writes) {
            file.writeBytes(w.offset(), w.bytes());
        }
        file.fdatasync();
    }

    private TableWrite l1Bytes() {
        byte[] bytes = new byte[l1.length * 8];
        java.nio.ByteBuffer.wrap(bytes).asLongBuffer().put(l1);
        return new TableWrite(header.l1TableOffset(), bytes);
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

    /** Grows or shrinks the virtual size; the L1 table moves when it must grow. */
    void resize(long newSize) throws IOException {
        checkWritable();
        flushLock.lock();
        try {
            flushAll();
            lock.writeLock().lock();
            try {
                long entries = header.l1EntriesFor(newSize);
                if (entries * 8 > QcowHeader.MAX_L1_BYTES) {
                    throw new IOException("size " + newSize + " needs an L1 table larger than the qcow2 limit");
                }
                if (newSize < header.size()) {
                    shrinkMappings(newSize);
                }
                if (entries > l1.length) {
                    growL1((int) entries);
                }
            } finally {
                lock.writeLock().unlock();
            }
            flushAll();
            lock.writeLock().lock();
            try {
                writeHeader(header.withSize(newSize));
            } finally {
                lock.writeLock().unlock();
            }
        } finally {
            flushLock.unlock();
        }
    }

    /** Drops every mapping at or past {@code newSize}; the flushes around resize write it. */
    private void shrinkMappings(long newSize) throws IOException {
        long firstCluster = (newSize + clusterSize - 1) >>> clusterBits;
        long lastCluster = (header.size() + clusterSize - 1) >>> clusterBits;
        for (long c = firstCluster; c < lastCluster; c++) {
            int l1Index = (int) (c >>> l2Bits);
            if (l2Offset(l1Index) == 0) {
                c = (((long) l1Index + 1) << l2Bits) - 1;
                continue;
            }
            if ((c & ((1L << l2Bits) - 1)) == 0) {
                // A whole L2 table past the end: free its clusters and the table itself.
                MetadataTable t = loadL2(l2Offset(l1Index));
                for (int i = 0; i < (1 << l2Bits); i++) {
                    release(entry(t, i), 0);
                }
                refcounts.freeLater(t.offset, clusterSize);
                l1[l1Index] = 0;
                l1Dirty = true;
                c += (1L << l2Bits) - 1;
                continue;
            }
            MetadataTable t = writableL2(l1Index);
            int i = l2Index(c << clusterBits);
            release(entry(t, i), 0);
            if (extended) {
                t.setLong(2 * i, 0);
                t.setLong(2 * i + 1, 0);
            } else {
                t.setLong(i, 0);
            }
        }
    }

    /**
     * Moves L1 to new clusters big enough for {@code entries}: written and synced before the
     * header points at it (the flush before this made every table it references durable).
     */
    private void growL1(int entries) throws IOException {
        long bytes = (long) entries * 8;
        int clusters = (int) ((bytes + clusterSize - 1) / clusterSize);
        long offset = refcounts.allocate(clusters);
        long[] grown = java.util.Arrays.copyOf(l1, entries);
        // Refcounts of the new clusters first, then the table, then the header.
        for (TableWrite w : refcounts.takeDirtyBlocks()) {
            file.writeBytes(w.offset(), w.bytes());
        }
        TableWrite table = refcounts.takeDirtyTable();
        file.fdatasync();
        if (table != null) {
            file.writeBytes(table.offset(), table.bytes());
            file.fdatasync();
        }
        RefcountManager.writeLongs(file, offset, grown);
        file.fdatasync();
        long oldOffset = header.l1TableOffset();
        long oldBytes = (long) l1.length * 8;
        writeHeader(header.withL1(offset, entries));
        l1 = grown;
        if (oldBytes > 0) {
            refcounts.freeLater(oldOffset, oldBytes);
        }
    }

    /** Whether guest cluster {@code gc} has an allocation in progress (tests). */
    boolean allocating(long gc) {
        lock.readLock().lock();
        try {
            return pending.containsKey(gc);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Registers a waiter on an allocation; false if it already committed (retry at once). */
    boolean await(PendingAllocation p, Runnable waiter) {
        lock.writeLock().lock();
        try {
            if (pending.get(p.guestCluster()) != p) {
                return false;
            }
            p.waiters().add(waiter);
            return true;
        } finally {
            lock.writeLock().unlock();
        }
    }
}
