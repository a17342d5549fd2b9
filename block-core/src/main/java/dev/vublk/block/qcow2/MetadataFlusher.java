package dev.vublk.block.qcow2;

import dev.vublk.block.MetadataWrites;
import dev.vublk.block.WriteBackStep;
import dev.vublk.block.storage.FileStorage;
import dev.vublk.block.storage.Storage;
import dev.vublk.uring.Errno;
import dev.vublk.uring.NativeException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Writes dirty metadata back in dependency order: refcount blocks, then the refcount table, then
 * L2 tables, then L1, each stage synced before the next (with an external data file, the data
 * file is synced first: data an L2 entry will point at must be there). The snapshot of what to
 * write is taken atomically under the write lock, so every L2 entry written refers to a cluster
 * whose refcount is in the blocks written before it. Tables stay dirty (so the cache keeps them)
 * until their copy is durable. Frees gathered up to the snapshot are applied afterwards, except
 * those a queue may still be writing to in place (they wait for a later write-back).
 *
 * <p>One write-back runs at a time. Queues run it on their ring ({@link #begin}, then the engine
 * writes the {@link WriteBack}'s stages and calls {@link #finish}); other queues wanting one wait
 * for it ({@link #await}) and then begin their own. Open, close and resize use {@link #flush},
 * which does the same with synchronous calls.
 */
final class MetadataFlusher {
    /** How long a synchronous flush waits for a queue's write-back in flight. */
    private static final long SYNC_WAIT_NANOS = 30_000_000_000L;

    private final QcowMetadata meta;
    private final L2Tables tables;
    private final RefcountManager refcounts;
    private final FileStorage imageStorage;
    private final FileStorage dataStorage;
    private final boolean external;
    private final Lock writeLock;
    /** One synchronous flush at a time; resize holds it across its own flushes. */
    final ReentrantLock flushLock = new ReentrantLock();
    /** The write-back in flight, or null; guarded by the write lock. */
    private WriteBack running;

    MetadataFlusher(QcowMetadata meta, L2Tables tables, RefcountManager refcounts, FileStorage imageStorage,
                    FileStorage dataStorage, boolean external, Lock writeLock) {
        this.meta = meta;
        this.tables = tables;
        this.refcounts = refcounts;
        this.imageStorage = imageStorage;
        this.dataStorage = dataStorage;
        this.external = external;
        this.writeLock = writeLock;
    }

    /** A snapshot of dirty metadata as ordered stages, with native copies of the bytes. */
    final class WriteBack implements MetadataWrites {
        private final List<FileStorage> storages = new ArrayList<>();
        private final List<List<TableWrite>> stages = new ArrayList<>();
        private final List<MemorySegment[]> data = new ArrayList<>();
        private final List<long[]> frees;
        /** Whether it took the refcount table and the L1 table: they are clean only once it lands. */
        private final boolean tookTable;
        private final boolean tookL1;
        private final List<Runnable> waiters = new ArrayList<>();
        private final Arena arena = Arena.ofShared();

        private WriteBack(List<TableWrite> blocks, TableWrite table, List<TableWrite> l2s, TableWrite l1, List<long[]> frees) {
            this.frees = frees;
            this.tookTable = table != null;
            this.tookL1 = l1 != null;
            if (external && !l2s.isEmpty()) {
                stage(dataStorage, List.of());
            }
            stage(imageStorage, blocks);
            stage(imageStorage, table == null ? List.of() : List.of(table));
            stage(imageStorage, l2s);
            stage(imageStorage, l1 == null ? List.of() : List.of(l1));
        }

        private void stage(FileStorage s, List<TableWrite> writes) {
            if (writes.isEmpty() && s == imageStorage) {
                return; // nothing to write and nothing this order waits for
            }
            storages.add(s);
            stages.add(writes);
        }

        /** Copies the bytes to native memory for the ring; outside the lock. */
        private void materialize() {
            for (List<TableWrite> stage : stages) {
                MemorySegment[] segs = new MemorySegment[stage.size()];
                for (int i = 0; i < segs.length; i++) {
                    byte[] b = stage.get(i).bytes();
                    segs[i] = arena.allocate(b.length, 4096);
                    MemorySegment.copy(b, 0, segs[i], ValueLayout.JAVA_BYTE, 0, b.length);
                }
                data.add(segs);
            }
        }

        boolean empty() {
            return stages.isEmpty() && frees.isEmpty();
        }

        @Override
        public int stages() { return stages.size(); }

        @Override
        public Storage storage(int stage) { return storages.get(stage); }

        @Override
        public int writes(int stage) { return stages.get(stage).size(); }

        @Override
        public long offset(int stage, int write) { return stages.get(stage).get(write).offset(); }

        @Override
        public MemorySegment data(int stage, int write) { return data.get(stage)[write]; }

        /** The same stages with synchronous calls. */
        private void writeSync() throws IOException {
            for (int s = 0; s < stages(); s++) {
                for (int w = 0; w < writes(s); w++) {
                    storages.get(s).file().write(data(s, w), offset(s, w));
                }
                storages.get(s).file().fdatasync();
            }
        }
    }

    /**
     * Starts a write-back ({@code RUN}: the caller writes it, then calls {@link #finish}), says
     * none is needed ({@code DONE}), or names the one running ({@code WAIT}).
     */
    void begin(WriteBackStep step) throws IOException {
        WriteBack wb;
        writeLock.lock();
        try {
            meta.checkWritable();
            if (running != null) {
                step.waitFor(running);
                return;
            }
            wb = new WriteBack(refcounts.takeDirtyBlocks(), refcounts.takeDirtyTable(), tables.takeDirtyTables(),
                    tables.takeDirtyL1(meta.header().l1TableOffset()), refcounts.takeFrees());
            if (wb.empty()) {
                step.done();
                return;
            }
            running = wb;
        } finally {
            writeLock.unlock();
        }
        wb.materialize();
        step.run(wb);
    }

    /**
     * The write-back's stages are durable ({@code cause} null) or one failed: tables whose copy
     * landed are clean, frees are applied, or the image fails every later change. A write-back
     * that found no space (ENOSPC, EDQUOT) is the exception: its tables stay dirty and the next
     * write-back writes them again in the same order, so once space returns the image goes on.
     * The stage order keeps what did land safe meanwhile: refcounts ahead of the tables pointing
     * at them, so a crash leaves at most leaked clusters, as it does at any point. Returns the
     * waiters to run.
     */
    List<Runnable> finish(WriteBack wb, IOException cause) {
        writeLock.lock();
        try {
            if (cause == null) {
                for (List<TableWrite> stage : wb.stages) {
                    for (TableWrite w : stage) {
                        w.landed();
                    }
                }
                if (!wb.frees.isEmpty()) {
                    try {
                        refcounts.applyFrees(wb.frees, meta::writeInFlight);
                    } catch (IOException e) {
                        meta.fail(e);
                    }
                }
            } else if (cause instanceof NativeException n && Errno.isNoSpace(n.errno())) {
                refcounts.restore(wb.tookTable, wb.frees); // tables and blocks are still dirty: landed() never ran
                if (wb.tookL1) {
                    tables.restoreL1();
                }
            } else {
                meta.fail(cause);
            }
            running = null;
            tables.wroteBack();
            return wb.waiters;
        } finally {
            writeLock.unlock();
            wb.arena.close();
        }
    }

    /** Adds a waiter to the write-back in flight; false if {@code wb} is over already. */
    boolean await(WriteBack wb, Runnable waiter) {
        writeLock.lock();
        try {
            if (running != wb) {
                return false;
            }
            wb.waiters.add(waiter);
            return true;
        } finally {
            writeLock.unlock();
        }
    }

    /** A synchronous write-back, for open, close and resize; waits for one a queue is running. */
    void flush() throws IOException {
        flushLock.lock();
        try {
            WriteBackStep step = new WriteBackStep();
            long deadline = System.nanoTime() + SYNC_WAIT_NANOS;
            for (begin(step); step.kind == WriteBackStep.WAIT; begin(step)) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("a queue's metadata write-back did not finish in 30 s");
                }
                Thread.onSpinWait();
                Thread.yield();
            }
            if (step.kind == WriteBackStep.DONE) {
                return;
            }
            WriteBack wb = (WriteBack) step.writes;
            IOException failure = null;
            try {
                wb.writeSync();
            } catch (IOException e) {
                failure = e;
            }
            for (Runnable w : finish(wb, failure)) {
                w.run();
            }
            if (failure != null) {
                throw meta.failure() != null ? meta.failure() : failure;
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
}
