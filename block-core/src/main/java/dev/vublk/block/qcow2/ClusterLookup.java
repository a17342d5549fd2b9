package dev.vublk.block.qcow2;

import dev.vublk.block.MappingRuns;
import dev.vublk.block.storage.Storage;
import java.io.IOException;
import java.util.concurrent.locks.Lock;

/**
 * Guest ranges to mapping runs, from the L2 tables. Cached tables are read under the read lock
 * only; a miss asks the engine to read the table on its ring ({@link MappingRuns#fetch}) and
 * look again, so no queue thread waits on the file; only when a fetched table could not be kept
 * is it loaded here, under the write lock. Allocation-free once the
 * tables are cached and the runs list has grown to the request sizes in use.
 */
final class ClusterLookup {
    private final L2Tables tables;
    private final Lock readLock;
    private final Lock writeLock;
    private final boolean external;
    private final boolean zeroFlag;
    private final int clusterBits;
    private final int clusterSize;
    /** Where DATA runs live (the data file, or the image file's O_DIRECT descriptor). */
    private final Storage dataStorage;
    /** Where compressed streams live: the image file, buffered (streams are not sector-aligned). */
    private final Storage imageStorage;

    ClusterLookup(L2Tables tables, QcowHeader h, Lock readLock, Lock writeLock, Storage dataStorage, Storage imageStorage) {
        this.tables = tables;
        this.dataStorage = dataStorage;
        this.imageStorage = imageStorage;
        this.readLock = readLock;
        this.writeLock = writeLock;
        this.external = h.hasDataFile();
        this.zeroFlag = h.version() >= 3;
        this.clusterBits = h.clusterBits();
        this.clusterSize = h.clusterSize();
    }

    /** Appends the runs of {@code [offset, offset + length)}; throws for damaged metadata. */
    void map(long offset, long length, MappingRuns out) throws IOException {
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            int l1Index = tables.l1Index(pos);
            long tableEnd = Math.min(end, tables.tableEnd(pos));
            long missing;
            readLock.lock();
            try {
                missing = tables.l2Offset(l1Index);
                if (missing == 0) {
                    out.backing(pos, tableEnd - pos);
                    pos = tableEnd;
                    continue;
                }
                MetadataTable table = tables.cached(l1Index);
                if (table != null) {
                    while (pos < tableEnd) {
                        long next = Math.min(tableEnd, ((pos >>> clusterBits) + 1) << clusterBits);
                        decode(table, pos, next, out);
                        pos = next;
                    }
                    continue;
                }
            } finally {
                readLock.unlock();
            }
            if (!out.metadataDone) {
                // Read on the queue's ring; the engine looks the range up again once it is cached.
                out.fetch(imageStorage, missing, clusterSize, tables.fetchToken(l1Index));
                return;
            }
            writeLock.lock();
            try {
                tables.load(missing); // right after a fetch that could not be kept: load it here, so the lookup ends
            } finally {
                writeLock.unlock();
            }
        }
    }

    /** Decodes {@code [pos, end)}, which lies inside one cluster. */
    private void decode(MetadataTable table, long pos, long end, MappingRuns out) throws IOException {
        int index = tables.l2Index(pos);
        long e = tables.entry(table, index);
        long clusterStart = pos & ~(long) (clusterSize - 1);
        if (L2Entry.compressed(e)) {
            if (external) {
                throw new IOException("compressed cluster in an image with an external data file");
            }
            out.compressed(pos, end - pos, imageStorage, L2Entry.compressedOffset(e, clusterBits),
                    L2Entry.compressedLength(e, clusterBits));
            return;
        }
        long host = L2Entry.offset(e);
        if ((host & (clusterSize - 1)) != 0) {
            throw new IOException("L2 entry for guest cluster " + (pos >>> clusterBits) + " has unaligned offset 0x"
                    + Long.toHexString(host));
        }
        boolean present = host != 0 || (external && L2Entry.copied(e));
        if (!tables.extended) {
            if (zeroFlag && (e & L2Entry.ZERO) != 0) {
                out.zero(pos, end - pos);
            } else if (present) {
                out.data(pos, end - pos, dataStorage, host + (pos - clusterStart));
            } else {
                out.backing(pos, end - pos);
            }
            return;
        }
        long bits = tables.bitmap(table, index);
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
                out.data(pos, subEnd - pos, dataStorage, host + (pos - clusterStart));
            } else if (zero) {
                out.zero(pos, subEnd - pos);
            } else {
                out.backing(pos, subEnd - pos);
            }
            pos = subEnd;
        }
    }
}
