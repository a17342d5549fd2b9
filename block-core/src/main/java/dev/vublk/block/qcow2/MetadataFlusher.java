package dev.vublk.block.qcow2;

import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Writes dirty metadata in dependency order: refcount blocks, then the refcount table, then L2
 * tables, then L1, each step synced before the next. The snapshot of what to write is taken
 * atomically under the write lock, so every L2 entry written refers to a cluster whose refcount
 * is in the blocks written before it. Frees gathered up to the snapshot are applied afterwards,
 * except those a queue may still be writing to in place (they wait for a later flush).
 */
final class MetadataFlusher {
    private final QcowMetadata meta;
    private final L2Tables tables;
    private final RefcountManager refcounts;
    private final NativeFile file;
    private final NativeFile dataFile;
    private final boolean external;
    private final Lock writeLock;
    /** One flush at a time; resize holds it across its own flushes. */
    final ReentrantLock flushLock = new ReentrantLock();

    MetadataFlusher(QcowMetadata meta, L2Tables tables, RefcountManager refcounts, NativeFile file, NativeFile dataFile,
                    boolean external, Lock writeLock) {
        this.meta = meta;
        this.tables = tables;
        this.refcounts = refcounts;
        this.file = file;
        this.dataFile = dataFile;
        this.external = external;
        this.writeLock = writeLock;
    }

    void flush() throws IOException {
        flushLock.lock();
        try {
            List<TableWrite> blocks, l2s;
            TableWrite table, l1;
            List<long[]> frees;
            writeLock.lock();
            try {
                meta.checkWritable();
                blocks = refcounts.takeDirtyBlocks();
                table = refcounts.takeDirtyTable();
                l2s = tables.takeDirtyTables();
                l1 = tables.takeDirtyL1(meta.header().l1TableOffset());
                frees = refcounts.takeFrees();
            } finally {
                writeLock.unlock();
            }
            try {
                if (external && !l2s.isEmpty()) {
                    dataFile.fdatasync(); // data an L2 entry will point at must be there first
                }
                writeStep(blocks);
                writeStep(table == null ? List.of() : List.of(table));
                writeStep(l2s);
                writeStep(l1 == null ? List.of() : List.of(l1));
            } catch (IOException e) {
                throw meta.fail(e);
            }
            if (!frees.isEmpty()) {
                writeLock.lock();
                try {
                    refcounts.applyFrees(frees, meta::writeInFlight);
                } finally {
                    writeLock.unlock();
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
}
