package dev.vublk.block.qcow2;

import dev.vublk.uring.NativeFile;
import java.io.IOException;

/**
 * Rebuilds the refcounts of an image left dirty by lazy refcount updates: every reference in the
 * image is counted again and a fresh refcount table with fresh blocks is written past the end of
 * the file, so nothing the old structure describes is overwritten and a crash part-way leaves the
 * image dirty (and rebuilt again on the next open). The caller switches the header to the new
 * table and clears the dirty bit once {@link #rebuild} returned.
 *
 * <p>What is counted: the header cluster, the active L1 table and every snapshot's, the snapshot
 * table, each L2 table once per L1 entry naming it, each data cluster once per L2 entry naming it
 * (through every L1 table, as qcow2 shares tables between snapshots), compressed streams on every
 * cluster they touch, and the new refcount table and blocks themselves. The old refcount structure
 * is not referenced by the new one and becomes free. The COPIED flags of the active tables are set
 * again from the new counts, because the in-place write path trusts them.
 *
 * <p>Memory stays bounded: counts are kept for one window of host clusters at a time (a whole
 * number of refcount blocks), and a file larger than one window takes one pass over the metadata
 * per window. Time is bounded by the file size: a pass reads at most {@link #readBudget} bytes of
 * L1 and L2 tables, so an image whose snapshots all name the same huge tables is refused instead
 * of being walked again and again.
 */
final class RefcountRebuild {
    /** Clusters whose counts are held at once: an int each, 16 MiB. */
    static final int WINDOW_CLUSTERS = 4 << 20;
    /**
     * Table bytes one pass may read, per byte of the file. Snapshots share L2 tables, so a pass
     * reads the active tables and each snapshot's again: L2 tables are 1/8192 of the data they map
     * with 64 KiB clusters (1/64 with 512-byte ones), so 8 times the file leaves room for
     * thousands of snapshots of a full image, while a hostile table shared by every snapshot
     * costs at most a few passes over the file.
     */
    static final long READ_BUDGET_PER_FILE_BYTE = 8;
    /** Plus this much whatever the file size: small images with many snapshots are sound too. */
    static final long READ_BUDGET_FLOOR = 256L << 20;

    private final NativeFile file;
    private final QcowHeader h;
    private final int clusterBits;
    private final int clusterSize;
    private final RefcountCodec codec;
    private final int perBlock;
    private final boolean external;
    private final long fileSize;
    private final long[] activeL1;
    private final SnapshotTable snapshots;
    /** Host clusters of the file before the rebuild; the new structure starts here. */
    private final long fileClusters;
    private final int tableClusters;
    private final long blockCount;
    /** The new refcount table: an entry is set once its block turned out to be needed. */
    private final long[] table;
    private int[] counts;
    private long windowStart;
    private long windowEnd;
    private final long readBudget;
    private long readThisPass;
    private boolean l1Changed;

    private final long window;

    private RefcountRebuild(NativeFile file, QcowHeader h, int windowClusters) throws IOException, QcowFormatException {
        this.file = file;
        this.h = h;
        this.clusterBits = h.clusterBits();
        this.clusterSize = h.clusterSize();
        this.codec = new RefcountCodec(h.refcountOrder());
        this.perBlock = codec.entriesPerBlock(clusterSize);
        this.external = h.hasDataFile();
        this.fileSize = file.size();
        this.activeL1 = QcowMetadata.loadL1(file, h);
        this.snapshots = SnapshotTable.read(file, h);
        this.fileClusters = (fileSize + clusterSize - 1) >>> clusterBits;
        // The new table and blocks cover themselves too: grow both until they agree.
        long blocks = 1;
        long tableCl = 1;
        while (true) {
            long total = fileClusters + tableCl + blocks;
            long b = (total + perBlock - 1) / perBlock;
            long t = (b * 8 + clusterSize - 1) / clusterSize;
            if (b == blocks && t == tableCl) {
                break;
            }
            blocks = b;
            tableCl = t;
        }
        if (tableCl * clusterSize > QcowHeader.MAX_REFTABLE_BYTES
                || (fileClusters + tableCl + blocks) > (1L << (56 - clusterBits))) {
            throw new QcowFormatException("image file of " + fileSize + " bytes is too large to rebuild its refcounts"
                    + " (a refcount table of " + tableCl + " clusters would be needed)");
        }
        this.tableClusters = (int) tableCl;
        this.blockCount = blocks;
        this.table = new long[(int) (tableCl * clusterSize / 8)];
        this.window = Math.max(perBlock, (long) windowClusters / perBlock * perBlock);
        this.readBudget = READ_BUDGET_PER_FILE_BYTE * fileSize + READ_BUDGET_FLOOR;
    }

    /**
     * Counts every reference and writes the new refcount blocks and table (synced); fixes COPIED
     * flags of the active L1 and L2 tables. Returns the header pointing at the new table, still
     * with the dirty bit set: writing it is the caller's commit point.
     */
    static QcowHeader rebuild(NativeFile file, QcowHeader h) throws IOException, QcowFormatException {
        return rebuild(file, h, WINDOW_CLUSTERS);
    }

    /** As {@link #rebuild(NativeFile, QcowHeader)} with counts held for {@code windowClusters} at a time (tests). */
    static QcowHeader rebuild(NativeFile file, QcowHeader h, int windowClusters) throws IOException, QcowFormatException {
        return new RefcountRebuild(file, h, windowClusters).run();
    }

    private QcowHeader run() throws IOException, QcowFormatException {
        long total = fileClusters + tableClusters + blockCount;
        counts = new int[(int) Math.min(window, total)];
        for (windowStart = 0; windowStart < total; windowStart += window) {
            windowEnd = Math.min(total, windowStart + window);
            java.util.Arrays.fill(counts, 0);
            readThisPass = 0;
            countReferences();
            decideBlocks();
            countNewStructure();
            writeBlocks();
            fixCopiedFlags();
        }
        RefcountManager.writeLongs(file, fileClusters << clusterBits, table);
        if (l1Changed) {
            RefcountManager.writeLongs(file, h.l1TableOffset(), activeL1);
        }
        file.fdatasync();
        return h.withRefcountTable(fileClusters << clusterBits, tableClusters);
    }

    // ---- counting ---------------------------------------------------------------------------

    private void countReferences() throws IOException, QcowFormatException {
        countRange(0, clusterSize);
        countRange(h.l1TableOffset(), (long) h.l1Size() * 8);
        countRange(h.snapshotsOffset(), snapshots.byteLength());
        countL1(activeL1);
        for (SnapshotEntry s : snapshots.entries()) {
            countRange(s.l1TableOffset(), (long) s.l1Size() * 8);
            if (s.l1Size() > 0) {
                charge((long) s.l1Size() * 8);
                countL1(RefcountManager.readLongs(file, s.l1TableOffset(), s.l1Size()));
            }
        }
    }

    private void countL1(long[] l1) throws IOException, QcowFormatException {
        for (int i = 0; i < l1.length; i++) {
            long l2 = L2Entry.offset(l1[i]);
            if (l2 == 0) {
                continue;
            }
            checkCluster(l2, "L2 table of L1 entry " + i);
            count(l2 >>> clusterBits);
            countL2(readL2(l2));
        }
    }

    private MetadataTable readL2(long offset) throws IOException, QcowFormatException {
        charge(clusterSize);
        return new MetadataTable(offset, file.readBytes(offset, clusterSize));
    }

    /** Accounts for a table about to be read; refuses once the pass exceeds its budget. */
    private void charge(long bytes) throws QcowFormatException {
        readThisPass += bytes;
        if (readThisPass > readBudget) {
            throw new QcowFormatException("rebuilding refcounts would read more than " + readBudget
                    + " bytes of tables for a file of " + fileSize + " bytes (L1 and L2 tables named"
                    + " again and again by snapshots); repair the image with 'qemu-img check -r all'");
        }
    }

    private void countL2(MetadataTable t) throws QcowFormatException {
        int step = h.extendedL2() ? 2 : 1;
        for (int i = 0; i < h.l2Entries(); i++) {
            long e = t.getLong(i * step);
            if (L2Entry.compressed(e)) {
                long start = L2Entry.compressedOffset(e, clusterBits);
                long length = L2Entry.compressedLength(e, clusterBits);
                if (external) {
                    throw new QcowFormatException("compressed cluster in L2 table 0x" + Long.toHexString(t.offset)
                            + " of an image with an external data file");
                }
                if (start + length > fileSize) {
                    throw new QcowFormatException("compressed cluster at 0x" + Long.toHexString(start)
                            + " in L2 table 0x" + Long.toHexString(t.offset) + " lies past the end of the file");
                }
                countRange(start, length);
                continue;
            }
            long off = L2Entry.offset(e);
            if (off != 0 && !external) {
                checkCluster(off, "data cluster in L2 table 0x" + Long.toHexString(t.offset));
                count(off >>> clusterBits);
            }
        }
    }

    private void checkCluster(long offset, String what) throws QcowFormatException {
        if ((offset & (clusterSize - 1)) != 0) {
            throw new QcowFormatException(what + " at unaligned offset 0x" + Long.toHexString(offset));
        }
        if (offset >= fileSize) {
            throw new QcowFormatException(what + " at 0x" + Long.toHexString(offset) + " lies past the end of the file");
        }
    }

    private void countRange(long offset, long length) {
        if (length <= 0) {
            return;
        }
        for (long c = offset >>> clusterBits; c <= (offset + length - 1) >>> clusterBits; c++) {
            count(c);
        }
    }

    private void count(long cluster) {
        if (cluster >= windowStart && cluster < windowEnd) {
            counts[(int) (cluster - windowStart)]++;
        }
    }

    private int countOf(long cluster) {
        return counts[(int) (cluster - windowStart)];
    }

    // ---- the new structure ------------------------------------------------------------------

    /** Block {@code k} lives in the {@code k}-th cluster after the new table. */
    private long blockCluster(long k) {
        return fileClusters + tableClusters + k;
    }

    /**
     * A block is written when its range has references, or when it covers the new structure
     * (whose own counts are not all known yet). Windows hold whole blocks.
     */
    private void decideBlocks() {
        for (long k = windowStart / perBlock; k * perBlock < windowEnd; k++) {
            long first = k * perBlock;
            boolean needed = first + perBlock > fileClusters;
            for (long c = first; !needed && c < Math.min(windowEnd, first + perBlock); c++) {
                needed = countOf(c) != 0;
            }
            if (needed) {
                table[(int) k] = blockCluster(k) << clusterBits;
            }
        }
    }

    /**
     * The new table and the blocks written so far. A block's range never starts after the block's
     * own cluster, so every block landing in this window has already been decided.
     */
    private void countNewStructure() {
        countRange(fileClusters << clusterBits, (long) tableClusters << clusterBits);
        for (long k = 0; k < blockCount; k++) {
            if (table[(int) k] != 0) {
                count(blockCluster(k));
            }
        }
    }

    private void writeBlocks() throws IOException, QcowFormatException {
        for (long k = windowStart / perBlock; k * perBlock < windowEnd; k++) {
            if (table[(int) k] == 0) {
                continue;
            }
            byte[] block = new byte[clusterSize];
            long first = k * perBlock;
            for (long c = first; c < Math.min(windowEnd, first + perBlock); c++) {
                long v = countOf(c);
                if (Long.compareUnsigned(v, codec.max()) > 0) {
                    throw new QcowFormatException("cluster " + c + " is referenced " + v + " times, more than "
                            + codec.bits() + "-bit refcounts can hold");
                }
                codec.set(block, (int) (c - first), v);
            }
            file.writeBytes(table[(int) k], block);
        }
    }

    // ---- COPIED flags -----------------------------------------------------------------------

    /** COPIED means "refcount exactly one": set it for this window's clusters from the new counts. */
    private void fixCopiedFlags() throws IOException, QcowFormatException {
        int step = h.extendedL2() ? 2 : 1;
        for (int i = 0; i < activeL1.length; i++) {
            long l2 = L2Entry.offset(activeL1[i]);
            if (l2 == 0) {
                continue;
            }
            long fixedL1 = withCopied(activeL1[i], l2);
            if (fixedL1 != activeL1[i]) {
                activeL1[i] = fixedL1;
                l1Changed = true;
            }
            MetadataTable t = readL2(l2);
            boolean changed = false;
            for (int j = 0; j < h.l2Entries(); j++) {
                long e = t.getLong(j * step);
                long fixed;
                if (L2Entry.compressed(e)) {
                    fixed = e & ~L2Entry.COPIED;
                } else if (L2Entry.offset(e) != 0 && !external) {
                    fixed = withCopied(e, L2Entry.offset(e));
                } else {
                    fixed = e;
                }
                if (fixed != e) {
                    t.setLong(j * step, fixed);
                    changed = true;
                }
            }
            if (changed) {
                file.writeBytes(l2, t.bytes);
            }
        }
    }

    private long withCopied(long entry, long offset) {
        long c = offset >>> clusterBits;
        if (c < windowStart || c >= windowEnd) {
            return entry;
        }
        return countOf(c) == 1 ? entry | L2Entry.COPIED : entry & ~L2Entry.COPIED;
    }
}
