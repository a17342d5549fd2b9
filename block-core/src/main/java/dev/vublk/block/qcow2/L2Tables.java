package dev.vublk.block.qcow2;

import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The active L1 table and the cache of L2 tables, with the geometry that indexes them. Callers
 * hold the metadata lock: the read lock to look at cached tables, the write lock for anything
 * that loads, copies or changes a table.
 */
final class L2Tables {
    final int clusterBits;
    final int clusterSize;
    final int l2Bits;
    final boolean extended;
    private final NativeFile file;
    private final TableCache cache;
    private long[] l1;
    private boolean l1Dirty;
    /** Write-backs finished so far (see {@link #fetchToken}); write lock held to change. */
    private int writeBackEpoch;

    L2Tables(NativeFile file, QcowHeader h, long[] l1, int cacheTables) {
        this.file = file;
        this.clusterBits = h.clusterBits();
        this.clusterSize = h.clusterSize();
        this.extended = h.extendedL2();
        this.l2Bits = Integer.numberOfTrailingZeros(h.l2Entries());
        this.l1 = l1;
        this.cache = new TableCache(cacheTables);
    }

    int l1Index(long guest) {
        return (int) (guest >>> (clusterBits + l2Bits));
    }

    int l2Index(long guest) {
        return (int) ((guest >>> clusterBits) & ((1 << l2Bits) - 1));
    }

    /** The first guest byte past the L2 table covering {@code guest}. */
    long tableEnd(long guest) {
        return ((long) l1Index(guest) + 1) << (clusterBits + l2Bits);
    }

    int l1Length() {
        return l1.length;
    }

    /** The L2 table's offset for {@code l1Index}, 0 when unallocated (or past the table). */
    long l2Offset(int l1Index) throws IOException {
        if (l1Index >= l1.length) {
            return 0;
        }
        long off = L2Entry.offset(l1[l1Index]);
        if ((off & (clusterSize - 1)) != 0) {
            throw new IOException("L1 entry " + l1Index + " points at unaligned L2 table 0x" + Long.toHexString(off));
        }
        return off;
    }

    /** The cached L2 table for {@code l1Index}, or null (unallocated or not cached). */
    MetadataTable cached(int l1Index) throws IOException {
        long off = l2Offset(l1Index);
        return off == 0 ? null : cache.peek(off);
    }

    /** The cached table only if this image owns it exclusively (it may be written in place). */
    MetadataTable cachedOwned(int l1Index) throws IOException {
        return l1Index < l1.length && L2Entry.copied(l1[l1Index]) ? cached(l1Index) : null;
    }

    /**
     * Identifies a fetch of the L2 table of {@code l1Index}: the index and the write-back epoch.
     * A write-back finishing while the table is read may have changed it on disk (and the cache
     * may have dropped it since), so a fetch from an older epoch is not kept.
     */
    long fetchToken(int l1Index) {
        return (long) writeBackEpoch << 32 | l1Index;
    }

    /** A write-back finished; write lock held. */
    void wroteBack() {
        writeBackEpoch++;
    }

    /**
     * Caches a table read on a queue's ring, if it is still what the L1 entry names, no
     * write-back finished meanwhile, and the table is not cached already; write lock held.
     */
    void install(long offset, long token, byte[] bytes) throws IOException {
        int l1Index = (int) token;
        if ((int) (token >>> 32) != writeBackEpoch || l1Index >= l1.length || l2Offset(l1Index) != offset
                || cache.peek(offset) != null) {
            return; // stale: the retry loads it
        }
        cache.get(offset, o -> bytes);
    }

    /** Loads the table synchronously on a miss; write lock held. */
    MetadataTable load(long offset) throws IOException {
        return cache.get(offset, o -> file.readBytes(o, clusterSize));
    }

    long entry(MetadataTable t, int index) {
        return t.getLong(extended ? 2 * index : index);
    }

    long bitmap(MetadataTable t, int index) {
        return extended ? t.getLong(2 * index + 1) : 0;
    }

    void setEntry(MetadataTable t, int index, long entry) {
        t.setLong(extended ? 2 * index : index, entry);
    }

    void setBitmap(MetadataTable t, int index, long bitmap) {
        t.setLong(2 * index + 1, bitmap);
    }

    /**
     * The L2 table for {@code l1Index}, allocated or copied so it may be modified; write lock
     * held. A table shared with a snapshot is copied and the snapshot keeps the original.
     */
    MetadataTable writable(int l1Index, RefcountManager refcounts) throws IOException {
        if (l1Index >= l1.length) {
            throw new IOException("guest offset beyond the L1 table");
        }
        long l1e = l1[l1Index];
        long off = l2Offset(l1Index);
        if (off != 0 && L2Entry.copied(l1e)) {
            return load(off);
        }
        byte[] bytes = off == 0 ? new byte[clusterSize] : load(off).bytes.clone();
        long fresh = refcounts.allocate(1);
        MetadataTable t = new MetadataTable(fresh, bytes);
        t.markDirty();
        cache.insert(t);
        l1[l1Index] = fresh | L2Entry.COPIED;
        l1Dirty = true;
        if (off != 0) {
            refcounts.freeLater(off, clusterSize);
        }
        return t;
    }

    /** Forgets the L2 table of {@code l1Index} (resize); its clusters are the caller's to free. */
    void clearL1(int l1Index) {
        l1[l1Index] = 0;
        l1Dirty = true;
    }

    /** The active L1 entries (resize copies them into a bigger table). */
    long[] l1() {
        return l1;
    }

    /** Switches to a moved, bigger L1 table that is already on disk. */
    void replaceL1(long[] grown) {
        l1 = grown;
    }

    /** Whether dirty L2 tables must be written back (see {@link TableCache#needsWriteBack}). */
    boolean needsWriteBack() {
        return cache.needsWriteBack();
    }

    /** Copies of the dirty L2 tables for a write-back; they stay dirty until the copies landed. */
    List<TableWrite> takeDirtyTables() {
        List<TableWrite> out = new ArrayList<>();
        for (MetadataTable t : cache.dirty()) {
            out.add(TableWrite.of(t));
        }
        return out;
    }

    /** A failed write-back took the L1 table's bytes: the next one writes it again; write lock held. */
    void restoreL1() {
        l1Dirty = true;
    }

    /** The L1 table's bytes if an entry changed since the last call, else null. */
    TableWrite takeDirtyL1(long l1Offset) {
        if (!l1Dirty) {
            return null;
        }
        l1Dirty = false;
        byte[] bytes = new byte[l1.length * 8];
        java.nio.ByteBuffer.wrap(bytes).asLongBuffer().put(l1);
        return new TableWrite(l1Offset, bytes);
    }
}
