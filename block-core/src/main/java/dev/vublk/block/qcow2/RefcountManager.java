package dev.vublk.block.qcow2;

import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Refcounts of the image file's clusters: the refcount table, a cache of refcount blocks, cluster
 * allocation and deferred frees. Every method runs under the metadata write lock.
 *
 * <p>Ordering rules it implements: a new refcount block reaches the disk before the table entry
 * pointing at it (both happen in the flusher, blocks first); a grown table is written in full and
 * synced before the header points at it; a decrement is only applied ({@link #applyFrees}) once the
 * L2/L1 tables that stopped referencing the cluster are durable, so a crash can leak a cluster but
 * never leave a reference to a cluster with refcount zero.
 */
final class RefcountManager {
    /** Writes the header synchronously when the table moves. */
    interface HeaderUpdate {
        void tableMoved(long offset, int clusters) throws IOException;
    }

    /**
     * Frees queued before a write-back applies them: 64 Ki ranges of 16 bytes plus their list
     * slots and array headers, about 3 MiB. Frees still targeted by a write in flight stay
     * queued, but there are never more of those than requests in flight.
     */
    static final int MAX_PENDING_FREES = 1 << 16;
    /**
     * Clusters past the end of the file that one allocation may find in use before it refuses.
     * A sound image has at most a few leaked ones there (allocations in flight at a crash); an
     * image whose refcount blocks claim millions would otherwise have the allocator walk them all
     * under the write lock. 64 Ki is well above any queue depth.
     */
    static final long MAX_USED_PAST_END = 1 << 16;

    private final NativeFile file;
    private final int clusterBits;
    private final int clusterSize;
    private final RefcountCodec codec;
    private final int perBlock;
    private final TableCache blocks;
    private final HeaderUpdate headerUpdate;
    private long[] table;
    private long tableOffset;
    private boolean tableDirty;
    private long freeHint;
    /**
     * Clusters the file holds, at open or since written or handed out: the allocator's yardstick.
     * Every cluster from here on has never held a byte, so it reads as zeros.
     */
    private long endClusters;
    /** Whether the clusters {@link #allocate} returned last lay at or past {@link #endClusters}. */
    private boolean lastAllocationUnwritten;
    private List<long[]> pendingFrees = new ArrayList<>();

    RefcountManager(NativeFile file, QcowHeader h, long[] table, int cacheTables, HeaderUpdate headerUpdate)
            throws IOException, QcowFormatException {
        this.file = file;
        this.clusterBits = h.clusterBits();
        this.clusterSize = h.clusterSize();
        this.codec = new RefcountCodec(h.refcountOrder());
        this.perBlock = codec.entriesPerBlock(clusterSize);
        this.blocks = new TableCache(cacheTables);
        this.headerUpdate = headerUpdate;
        this.table = table;
        this.tableOffset = h.refcountTableOffset();
        this.endClusters = (file.size() + clusterSize - 1) >>> clusterBits;
        checkMetadataCounted(h);
    }

    /**
     * The clusters the header names (itself, the L1 table, the refcount table, the snapshot
     * table) must have a refcount. The allocator trusts a zero refcount: a damaged table that
     * leaves them at zero would have it place new clusters, or a new refcount block, over them.
     */
    private void checkMetadataCounted(QcowHeader h) throws IOException, QcowFormatException {
        long[][] areas = {
                {0, clusterSize},
                {h.l1TableOffset(), (long) h.l1Size() * 8},
                {h.refcountTableOffset(), (long) h.refcountTableClusters() * clusterSize},
                {h.snapshotsOffset(), h.nbSnapshots() > 0 ? SnapshotEntry.FIXED_BYTES : 0}};
        String[] names = {"the header", "the L1 table", "the refcount table", "the snapshot table"};
        for (int a = 0; a < areas.length; a++) {
            long offset = areas[a][0];
            long length = areas[a][1];
            if (length == 0) {
                continue;
            }
            for (long c = offset >>> clusterBits; c <= (offset + length - 1) >>> clusterBits; c++) {
                if (refcount(c) == 0) {
                    throw new QcowFormatException("cluster " + c + " holds " + names[a] + " but its refcount is 0"
                            + " (repair the image with 'qemu-img check -r all')");
                }
            }
        }
    }

    /** Reads and checks the refcount table named by the header. */
    static long[] loadTable(NativeFile file, QcowHeader h) throws IOException, QcowFormatException {
        int entries = (int) ((long) h.refcountTableClusters() * h.clusterSize() / 8);
        long[] t = readLongs(file, h.refcountTableOffset(), entries);
        long fileSize = file.size();
        for (int i = 0; i < entries; i++) {
            long off = t[i];
            if (off == 0) {
                continue;
            }
            if ((off & (h.clusterSize() - 1)) != 0 || off < 0) {
                throw new QcowFormatException("refcount block " + i + " at unaligned offset 0x" + Long.toHexString(off));
            }
            if (off >= fileSize) {
                throw new QcowFormatException("refcount block " + i + " at 0x" + Long.toHexString(off) + " lies past the end of the file");
            }
        }
        return t;
    }

    static long[] readLongs(NativeFile file, long offset, int count) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(Math.max(8, (long) count * 8), 8);
            file.readFully(seg.asSlice(0, (long) count * 8), offset);
            long[] out = new long[count];
            for (int i = 0; i < count; i++) {
                out[i] = Long.reverseBytes(seg.getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i));
            }
            return out;
        }
    }

    int perBlock() { return perBlock; }

    RefcountCodec codec() { return codec; }

    long tableOffset() { return tableOffset; }

    private MetadataTable block(long clusterIndex) throws IOException {
        long rti = clusterIndex / perBlock;
        if (rti >= table.length) {
            return null;
        }
        long off = table[(int) rti] & ~511L;
        if (off == 0) {
            return null;
        }
        return blocks.get(off, o -> file.readBytes(o, clusterSize));
    }

    long refcount(long clusterIndex) throws IOException {
        MetadataTable b = block(clusterIndex);
        return b == null ? 0 : codec.get(b.bytes, (int) (clusterIndex % perBlock));
    }

    /** Adds {@code delta} (+1 or -1) to a cluster's refcount; refuses to overflow or go negative. */
    void adjust(long clusterIndex, long delta) throws IOException {
        MetadataTable b = block(clusterIndex);
        if (b == null) {
            if (delta < 0) {
                throw new IOException("refcount underflow for cluster " + clusterIndex + " (no refcount block)");
            }
            createBlockCovering(clusterIndex);
            b = block(clusterIndex);
        }
        int i = (int) (clusterIndex % perBlock);
        long v = codec.get(b.bytes, i);
        if (delta < 0 && v == 0) {
            throw new IOException("refcount underflow for cluster " + clusterIndex);
        }
        if (delta > 0 && v == codec.max()) {
            throw new IOException("refcount overflow for cluster " + clusterIndex + " (" + codec.bits() + "-bit refcounts)");
        }
        codec.set(b.bytes, i, v + delta);
        b.markDirty();
        if (v + delta == 0 && clusterIndex < freeHint) {
            freeHint = clusterIndex;
        }
    }

    /** Allocates {@code n} contiguous free clusters with refcount 1; returns the first one's offset. */
    long allocate(int n) throws IOException {
        long idx = freeHint;
        long usedPastEnd = 0;
        search:
        while (true) {
            if (idx + n > (1L << (56 - clusterBits))) {
                throw new IOException("image file would exceed the largest qcow2 offset");
            }
            for (int j = 0; j < n; j++) {
                long c = idx + j;
                if (block(c) == null) {
                    createBlockCovering(c);
                    continue search; // the new block (or a grown table) may sit in the candidate run
                }
                if (refcount(c) != 0) {
                    if (c >= endClusters && ++usedPastEnd > MAX_USED_PAST_END) {
                        throw new IOException("refcounts claim more than " + MAX_USED_PAST_END + " clusters past the end"
                                + " of the image file are in use (repair the image with 'qemu-img check -r all')");
                    }
                    idx = c + 1;
                    continue search;
                }
            }
            for (int j = 0; j < n; j++) {
                adjust(idx + j, 1);
            }
            if (n == 1 || idx == freeHint) {
                freeHint = idx + n;
            }
            lastAllocationUnwritten = idx >= endClusters;
            endClusters = Math.max(endClusters, idx + n);
            return idx << clusterBits;
        }
    }

    /**
     * Whether the clusters the last {@link #allocate} returned were never part of the file nor
     * written since it was opened: they read as zeros, so a writer need not fill them. Freed and
     * reused clusters never qualify (their old bytes may still be there where a hole could not
     * be punched), nor do clusters the file had at open (leaked ones may hold anything).
     */
    boolean lastAllocationUnwritten() {
        return lastAllocationUnwritten;
    }

    /** Puts a new refcount block in the first cluster of the range it covers that is free. */
    private void createBlockCovering(long clusterIndex) throws IOException {
        if (clusterIndex == 0) {
            // Checked at open; an offset of 0 would also read as "no block" and never end the search.
            throw new IOException("refcount table has no block for the header cluster");
        }
        long rti = clusterIndex / perBlock;
        if (rti >= table.length) {
            growTable(rti);
            if (block(clusterIndex) != null) {
                return;
            }
        }
        // Clusters in a range without a block all have refcount 0: place the block at the one asked for.
        byte[] bytes = new byte[clusterSize];
        codec.set(bytes, (int) (clusterIndex % perBlock), 1);
        MetadataTable b = new MetadataTable(clusterIndex << clusterBits, bytes);
        b.markDirty();
        blocks.insert(b);
        table[(int) rti] = clusterIndex << clusterBits;
        tableDirty = true;
        endClusters = Math.max(endClusters, clusterIndex + 1); // the block will be written there
    }

    /**
     * Replaces the table by a larger one placed past everything the old one covered, together with
     * the refcount blocks that describe the new clusters. Written and synced before the header
     * switches to it; the old table's clusters are then released.
     */
    private void growTable(long neededIndex) throws IOException {
        int perCluster = clusterSize / 8;
        long entries = Math.max(neededIndex + 1, (long) table.length * 2);
        long tableClusters = (entries + perCluster - 1) / perCluster;
        if (tableClusters * clusterSize > QcowHeader.MAX_REFTABLE_BYTES) {
            throw new IOException("refcount table would exceed " + QcowHeader.MAX_REFTABLE_BYTES + " bytes");
        }
        entries = tableClusters * perCluster;
        long start = (long) table.length * perBlock; // first cluster the old table cannot describe
        long newBlocks = 1;
        while (tableClusters + newBlocks > newBlocks * perBlock) {
            newBlocks++;
        }
        if (start / perBlock + newBlocks > entries) {
            entries = start / perBlock + newBlocks;
            tableClusters = (entries + perCluster - 1) / perCluster;
            entries = tableClusters * perCluster;
        }
        long[] grown = java.util.Arrays.copyOf(table, (int) entries);
        List<MetadataTable> created = new ArrayList<>();
        long tableStart = start;
        long blockStart = start + tableClusters;
        for (long k = 0; k < newBlocks; k++) {
            MetadataTable b = new MetadataTable((blockStart + k) << clusterBits, new byte[clusterSize]);
            b.markDirty();
            created.add(b);
            grown[(int) (start / perBlock + k)] = b.offset;
        }
        for (long c = tableStart; c < blockStart + newBlocks; c++) {
            MetadataTable b = created.get((int) ((c - start) / perBlock));
            codec.set(b.bytes, (int) (c % perBlock), 1);
        }
        for (MetadataTable b : created) {
            blocks.insert(b);
        }
        // Blocks are written but stay dirty: a flush running outside the lock may still write an
        // older copy it took before this, and the next flush must put the newest one back.
        for (MetadataTable b : blocks.dirty()) {
            file.writeBytes(b.offset, b.bytes);
        }
        file.fdatasync();
        writeLongs(file, tableStart << clusterBits, grown);
        file.fdatasync();
        endClusters = Math.max(endClusters, blockStart + newBlocks); // written above, and freed one day
        long oldOffset = tableOffset;
        long oldClusters = ((long) table.length * 8 + clusterSize - 1) / clusterSize;
        headerUpdate.tableMoved(tableStart << clusterBits, (int) tableClusters);
        table = grown;
        tableOffset = tableStart << clusterBits;
        tableDirty = false;
        // Deferred like any free: a flush in progress may still write the old table's bytes.
        freeLater(oldOffset, oldClusters << clusterBits);
    }

    static void writeLongs(NativeFile file, long offset, long[] values) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate((long) values.length * 8, 8);
            for (int i = 0; i < values.length; i++) {
                seg.setAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i, Long.reverseBytes(values[i]));
            }
            file.write(seg, offset);
        }
    }

    /**
     * Whether the refcount side needs a write-back: dirty blocks fill half the full cache (see
     * {@link TableCache#needsWriteBack}), or more than {@link #MAX_PENDING_FREES} frees wait for
     * one (each discard of a cluster queues one).
     */
    boolean needsWriteBack() {
        return blocks.needsWriteBack() || pendingFrees.size() > MAX_PENDING_FREES;
    }

    /** Copies of the dirty blocks for a write-back; they stay dirty until the copies landed. */
    List<TableWrite> takeDirtyBlocks() {
        List<TableWrite> out = new ArrayList<>();
        for (MetadataTable b : blocks.dirty()) {
            out.add(TableWrite.of(b));
        }
        return out;
    }

    /** The table's bytes if any entry changed since the last call, else null. */
    TableWrite takeDirtyTable() {
        if (!tableDirty) {
            return null;
        }
        tableDirty = false;
        byte[] bytes = new byte[table.length * 8];
        java.nio.ByteBuffer.wrap(bytes).asLongBuffer().put(table);
        return new TableWrite(tableOffset, bytes);
    }

    /** Queues a decrement of every cluster overlapping {@code [offset, offset + length)}. */
    void freeLater(long offset, long length) {
        pendingFrees.add(new long[] {offset, length});
    }

    /**
     * Takes back what a failed write-back took ({@link #takeDirtyTable}, {@link #takeFrees}),
     * so the next one writes the table and applies the frees; write lock held.
     */
    void restore(boolean tableTaken, List<long[]> frees) {
        tableDirty |= tableTaken;
        pendingFrees.addAll(frees);
    }

    List<long[]> takeFrees() {
        List<long[]> out = pendingFrees;
        pendingFrees = new ArrayList<>();
        return out;
    }

    /** Tells whether a host range may still receive a write already under way. */
    interface BusyCheck {
        boolean busy(long offset, long length);
    }

    /**
     * Applies frees whose references are gone from disk and punches holes for clusters now
     * unused. A range {@code busy} still is stays queued for a later flush: freeing it now would
     * let the cluster be reused under a write planned before its L2 entry changed.
     */
    void applyFrees(List<long[]> frees, BusyCheck busy) throws IOException {
        for (long[] f : frees) {
            if (busy.busy(f[0], f[1])) {
                pendingFrees.add(f);
                continue;
            }
            long first = f[0] >> clusterBits;
            long last = (f[0] + f[1] - 1) >> clusterBits;
            for (long c = first; c <= last; c++) {
                adjust(c, -1);
                if (refcount(c) == 0) {
                    try {
                        file.punchHole(c << clusterBits, clusterSize);
                    } catch (IOException e) {
                        // A file system without hole punching keeps the bytes; the cluster is free all the same.
                    }
                }
            }
        }
    }

    boolean hasPendingFrees() {
        return !pendingFrees.isEmpty();
    }
}
