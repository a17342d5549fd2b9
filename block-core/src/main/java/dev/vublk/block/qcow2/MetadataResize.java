package dev.vublk.block.qcow2;

import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.util.concurrent.locks.Lock;

/**
 * Changes the virtual size: shrinking drops (and frees) every mapping past the new end, growing
 * moves L1 to a bigger table when it must. Runs with the flush lock held and with flushes before
 * and after, so the header changes only once the tables it implies are durable.
 */
final class MetadataResize {
    private final QcowMetadata meta;
    private final L2Tables tables;
    private final RefcountManager refcounts;
    private final ClusterWrites writes;
    private final MetadataFlusher flusher;
    private final NativeFile file;
    private final Lock writeLock;
    private final int clusterBits;
    private final int clusterSize;

    MetadataResize(QcowMetadata meta, L2Tables tables, RefcountManager refcounts, ClusterWrites writes,
                   MetadataFlusher flusher, NativeFile file, Lock writeLock) {
        this.meta = meta;
        this.tables = tables;
        this.refcounts = refcounts;
        this.writes = writes;
        this.flusher = flusher;
        this.file = file;
        this.writeLock = writeLock;
        this.clusterBits = tables.clusterBits;
        this.clusterSize = tables.clusterSize;
    }

    void resize(long newSize) throws IOException {
        meta.checkWritable();
        flusher.flushLock.lock();
        try {
            flusher.flushAll();
            writeLock.lock();
            try {
                QcowHeader header = meta.header();
                long entries = header.l1EntriesFor(newSize);
                if (entries * 8 > QcowHeader.MAX_L1_BYTES) {
                    throw new IOException("size " + newSize + " needs an L1 table larger than the qcow2 limit");
                }
                if (newSize < header.size()) {
                    shrinkMappings(newSize, header.size());
                }
                if (entries > tables.l1Length()) {
                    growL1((int) entries);
                }
            } finally {
                writeLock.unlock();
            }
            flusher.flushAll();
            writeLock.lock();
            try {
                meta.writeHeader(meta.header().withSize(newSize));
            } finally {
                writeLock.unlock();
            }
        } finally {
            flusher.flushLock.unlock();
        }
    }

    /** Drops every mapping at or past {@code newSize}; the flushes around resize write it. */
    private void shrinkMappings(long newSize, long oldSize) throws IOException {
        int l2Bits = tables.l2Bits;
        long firstCluster = (newSize + clusterSize - 1) >>> clusterBits;
        long lastCluster = (oldSize + clusterSize - 1) >>> clusterBits;
        for (long c = firstCluster; c < lastCluster; c++) {
            int l1Index = (int) (c >>> l2Bits);
            long l2 = tables.l2Offset(l1Index);
            if (l2 == 0) {
                c = (((long) l1Index + 1) << l2Bits) - 1;
                continue;
            }
            if ((c & ((1L << l2Bits) - 1)) == 0) {
                // A whole L2 table past the end: free its clusters and the table itself.
                MetadataTable t = tables.load(l2);
                for (int i = 0; i < (1 << l2Bits); i++) {
                    writes.release(tables.entry(t, i), 0);
                }
                refcounts.freeLater(t.offset, clusterSize);
                tables.clearL1(l1Index);
                c += (1L << l2Bits) - 1;
                continue;
            }
            MetadataTable t = tables.writable(l1Index, refcounts);
            int i = tables.l2Index(c << clusterBits);
            writes.release(tables.entry(t, i), 0);
            tables.setEntry(t, i, 0);
            if (tables.extended) {
                tables.setBitmap(t, i, 0);
            }
        }
    }

    /**
     * Moves L1 to new clusters big enough for {@code entries}: written and synced before the
     * header points at it (the flush before this made every table it references durable).
     */
    private void growL1(int entries) throws IOException {
        long[] l1 = tables.l1();
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
        QcowHeader header = meta.header();
        long oldOffset = header.l1TableOffset();
        long oldBytes = (long) l1.length * 8;
        meta.writeHeader(header.withL1(offset, entries));
        tables.replaceL1(grown);
        if (oldBytes > 0) {
            refcounts.freeLater(oldOffset, oldBytes);
        }
    }
}
