package dev.vublk.block.engine;

import dev.vublk.block.Allocation;
import dev.vublk.block.BlockImage;
import dev.vublk.block.BlockWorker;
import dev.vublk.block.ClearStep;
import dev.vublk.block.Mapping;
import dev.vublk.block.MappingRuns;
import dev.vublk.block.MetadataWrites;
import dev.vublk.block.WriteBackStep;
import dev.vublk.block.WriteStep;
import dev.vublk.block.Pending;
import dev.vublk.block.storage.Storage;
import dev.vublk.block.storage.StorageQueue;
import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The one per-queue I/O engine, for every format: it turns guest requests into storage
 * operations on the queue's ring, asking the image's {@link Mapping} only where each range lives
 * and what a change must do. Reads go run by run (data straight into guest memory, zeros filled
 * inline, backing ranges through the backing image's own engine on the same ring, compressed
 * runs inflated); writes go step by step (host-contiguous in-place steps merged into one WRITEV,
 * allocations filled by a {@link CopyOnWrite} and committed, waits on another queue's allocation
 * resumed through a {@link CrossQueueWakeup}); discard and write-zeroes become metadata changes,
 * storage zeroing or zero writes. All transfers go through {@link Transfers}.
 *
 * <p>One rule for results: a request completes once, with its byte count (reads and writes) or 0
 * (the rest), or the first negative errno of its operations (a {@link NativeException}'s errno, EIO for anything else), and a failed request
 * is logged once, rate-limited ({@link FailureLog}). Requests,
 * operations, iovec arrays and lookup holders are pooled: steady-state reads and writes of
 * allocated data allocate nothing.
 */
public final class QueueEngine implements BlockWorker {
    /** Bytes of zeros one iovec entry of a zero write points at; entries repeat it. */
    static final int ZERO_CHUNK = 64 << 10;

    private final BlockImage image;
    private final Mapping mapping;
    private final IoUring ring;
    private final Arena arena = Arena.ofShared();
    private final StorageQueues storages;
    private final BounceBuffers bounces = new BounceBuffers();
    private final Transfers transfers;
    private final CompressedReads compressed;
    private final CrossQueueWakeup wakeup;
    private final MemorySegment zeros;
    private final WriteStep step = new WriteStep();
    private final ClearStep clearStep = new ClearStep();
    private final WriteBackStep writeBackStep = new WriteBackStep();
    private final FailureLog failures;
    private final ArrayDeque<Request> requests = new ArrayDeque<>();
    private final ArrayDeque<MappingRuns> runsPool = new ArrayDeque<>();
    private final ArrayDeque<BackingRead> backingReads = new ArrayDeque<>();
    private final ArrayDeque<CopyOnWrite> copies = new ArrayDeque<>();
    private final ArrayDeque<ZeroWrite> zeroWrites = new ArrayDeque<>();
    private final ArrayDeque<StorageZero> storageSteps = new ArrayDeque<>();
    private final ArrayDeque<MetadataFetch> fetches = new ArrayDeque<>();
    /**
     * Allocations this queue started and has not yet committed or aborted. Normally empty when
     * the engine closes; after a queue failure some may be left, and {@link #close} aborts them
     * so other queues waiting on those ranges go on.
     */
    private final ArrayList<Allocation> ownAllocations = new ArrayList<>();
    private BlockWorker backing;
    private boolean closed;

    public QueueEngine(BlockImage image, Mapping mapping, IoUring ring) {
        this.image = image;
        this.mapping = mapping;
        this.ring = ring;
        this.storages = new StorageQueues(ring);
        this.transfers = new Transfers(storages, mapping, bounces, arena);
        this.compressed = mapping.compressedUnit() > 0 ? new CompressedReads(storages, mapping, arena) : null;
        this.wakeup = new CrossQueueWakeup(ring);
        this.zeros = arena.allocate(ZERO_CHUNK, 4096);
        this.failures = new FailureLog(image.path());
    }

    /** The errno of a failure: a native call's own, EIO for anything else. Negative. */
    static int errno(Throwable e) {
        return e instanceof NativeException n ? -Math.max(1, n.errno()) : -Errno.EIO;
    }

    Transfers transfers() { return transfers; }

    BounceBuffers bounces() { return bounces; }

    // ---- requests -----------------------------------------------------------------------------

    private Request request(Request.Op op, long offset, long length, IoCompletion done, long tag) {
        Request r = requests.isEmpty() ? new Request(this) : requests.pop();
        r.start(op, offset, length, done, tag);
        return r;
    }

    /** A request of the engine's own (the old-data reads of a copy-on-write); not logged. */
    Request internalRequest(IoCompletion done) {
        return request(Request.Op.INTERNAL, 0, 0, done, 0);
    }

    /** The last operation of {@code r} finished. */
    void finished(Request r, int error) {
        IoCompletion d = r.done;
        long t = r.tag;
        if (error < 0 && r.op != Request.Op.INTERNAL) {
            failures.failed(r.op, r.offset, r.length, error);
        }
        boolean transfer = r.op == Request.Op.READ || r.op == Request.Op.WRITE;
        int result = error < 0 ? error : transfer ? (int) Math.min(Integer.MAX_VALUE, r.length) : 0;
        r.done = null;
        requests.push(r);
        d.complete(t, result);
    }

    /** The errno a request gets before any I/O, or 0 when its range may go ahead. */
    private int refusal(long offset, long length, boolean change) {
        if (closed) {
            return -Errno.EIO;
        }
        if (change && !mapping.writable()) {
            return -Errno.EROFS;
        }
        long size = image.size();
        int align = image.requestAlignment();
        if (offset < 0 || length < 0 || offset > size || length > size - offset || offset % align != 0) {
            return -Errno.EIO;
        }
        if (length % align != 0 && offset + length != size) {
            return -Errno.EIO; // only a range ending at the end of an image whose size is no multiple of it may be short
        }
        return 0;
    }

    private Request begin(Request.Op op, long offset, long length, boolean change, IoCompletion done, long tag) {
        Request r = request(op, offset, length, done, tag);
        int refused = refusal(offset, length, change);
        if (refused != 0) {
            r.complete(0, refused); // the issuer's count, with the error: the request is over
            return null;
        }
        return r;
    }

    // ---- reads --------------------------------------------------------------------------------

    @Override
    public void read(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        Request r = begin(Request.Op.READ, offset, buffers.totalBytes(), false, done, tag);
        if (r != null) {
            readInto(offset, buffers, 0, buffers.totalBytes(), r);
            r.complete(0, 0);
        }
    }

    /** Reads guest {@code [offset, offset + length)} into {@code buffers} from {@code bufOffset} on. */
    void readInto(long offset, IoVecArray buffers, long bufOffset, long length, Request r) {
        readInto(offset, buffers, bufOffset, length, r, false);
    }

    /** @param metadataDone the lookup follows a fetch it asked for */
    private void readInto(long offset, IoVecArray buffers, long bufOffset, long length, Request r, boolean metadataDone) {
        // A holder per call: completions delivered while issuing may start reads of their own.
        MappingRuns runs = runsPool.isEmpty() ? new MappingRuns() : runsPool.pop();
        try {
            runs.clear();
            runs.metadataDone = metadataDone;
            mapping.lookup(offset, length, runs);
            if (runs.fetching()) {
                fetch(runs.fetchStorage(), runs.fetchHost(), runs.fetchLength(), runs.fetchToken(), r,
                        () -> readInto(offset, buffers, bufOffset, length, r, true));
                return;
            }
            long expect = offset;
            for (int i = 0; i < runs.count(); i++) {
                long guest = runs.guest(i);
                long bytes = runs.length(i);
                if (guest != expect || bytes <= 0 || bytes > offset + length - guest) {
                    throw new IOException("lookup of " + length + " bytes at " + offset + " returned run " + i + " at "
                            + guest + " of " + bytes + " bytes (format error)");
                }
                expect = guest + bytes;
                long at = bufOffset + (guest - offset);
                switch (runs.kind(i)) {
                    case MappingRuns.DATA -> {
                        r.add();
                        transfers.read(runs.storage(i), runs.host(i), buffers, at, bytes, r);
                    }
                    case MappingRuns.ZERO -> buffers.zero(at, bytes);
                    case MappingRuns.BACKING -> readBacking(guest, buffers, at, bytes, r);
                    case MappingRuns.COMPRESSED -> {
                        if (compressed == null) {
                            throw new IOException("compressed run from a format without compression");
                        }
                        // A compressed unit covers an aligned guest range: the run starts this far into it.
                        compressed.read(runs.storage(i), runs.host(i), runs.compressedLength(i), guest % mapping.compressedUnit(),
                                buffers, at, bytes, r);
                    }
                    default -> throw new IOException("unknown run kind " + runs.kind(i));
                }
            }
            if (expect != offset + length) {
                throw new IOException("lookup of " + length + " bytes at " + offset + " stopped at " + expect + " (format error)");
            }
        } catch (IOException | RuntimeException e) {
            r.fail(errno(e));
        } finally {
            runs.clear();
            runsPool.push(runs);
        }
    }

    /** A read handed to the backing image's engine. */
    private final class BackingRead implements IoCompletion {
        private final IoVecArray iov = new IoVecArray(arena, IoVecArray.IOV_MAX);
        private Request r;

        @Override
        public void complete(long ignored, int res) {
            Request req = r;
            r = null;
            backingReads.push(this);
            req.complete(0, Math.min(res, 0));
        }
    }

    /** Reads from the backing image; zeros past its end, or all zeros without one. */
    private void readBacking(long guest, IoVecArray buffers, long at, long length, Request r) throws IOException {
        BlockImage below = image.backing();
        long backed = below == null ? 0 : Math.max(0, Math.min(length, below.size() - guest));
        if (backed < length) {
            buffers.zero(at + backed, length - backed);
        }
        if (backed == 0) {
            return;
        }
        if (backing == null) {
            backing = below.newWorker(ring); // on first use: formats that resolve their chain themselves never need it
        }
        BackingRead op = backingReads.isEmpty() ? new BackingRead() : backingReads.pop();
        op.iov.setSlice(buffers, at, backed);
        op.r = r;
        r.add();
        backing.read(guest, op.iov, op, 0);
    }

    // ---- writes -------------------------------------------------------------------------------

    @Override
    public void write(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        Request r = begin(Request.Op.WRITE, offset, buffers.totalBytes(), true, done, tag);
        if (r != null) {
            writeRange(offset, offset + buffers.totalBytes(), buffers, 0, r);
            r.complete(0, 0);
        }
    }

    /**
     * Writes guest {@code [pos, end)} from {@code buffers} at {@code bufOffset}, step by step as
     * the mapping plans it. In-place steps that continue each other (same storage, contiguous
     * host range, same token) become one transfer.
     */
    void writeRange(long pos, long end, IoVecArray buffers, long bufOffset, Request r) {
        writeRange(pos, end, buffers, bufOffset, r, false);
    }

    /** @param metadataDone the first step follows a write-back the format asked for */
    private void writeRange(long pos, long end, IoVecArray buffers, long bufOffset, Request r, boolean metadataDone) {
        Storage runStorage = null;
        long runHost = 0, runGuest = 0, runLength = 0, runToken = -1;
        long start = pos;
        try {
            while (pos < end) {
                step.token = runLength > 0 ? runToken : -1;
                step.metadataDone = metadataDone && pos == start;
                mapping.planWrite(pos, end, step);
                // Copied out at once: issuing may run completions that plan writes of their own.
                int kind = step.kind;
                long stepEnd = step.end;
                Storage storage = step.storage;
                long host = step.host;
                long token = step.token;
                boolean inspect = step.inspect;
                int fetchLength = step.fetchLength;
                Allocation a = step.allocation;
                Pending pending = step.pending;
                MetadataWrites writes = step.writes;
                if ((stepEnd <= pos && kind != WriteStep.WRITE_BACK && kind != WriteStep.FETCH && kind != WriteStep.METADATA) || stepEnd > end) {
                    throw new IllegalStateException("write step to " + stepEnd + " from " + pos + " (format error)");
                }
                long at = bufOffset + (pos - start);
                if (kind == WriteStep.IN_PLACE && !inspect && runLength > 0 && storage == runStorage && token == runToken
                        && host == runHost + runLength) {
                    runLength += stepEnd - pos;
                } else {
                    if (runLength > 0) {
                        r.add();
                        transfers.write(runStorage, runHost, buffers, bufOffset + (runGuest - start), runLength, runToken, runGuest,
                                false, r);
                        runLength = 0;
                    }
                    long p = pos;
                    switch (kind) {
                        case WriteStep.IN_PLACE -> {
                            if (inspect) {
                                r.add();
                                transfers.write(storage, host, buffers, at, stepEnd - pos, token, pos, true, r);
                            } else {
                                runStorage = storage;
                                runHost = host;
                                runGuest = pos;
                                runLength = stepEnd - pos;
                                runToken = token;
                            }
                        }
                        case WriteStep.ALLOCATE -> (copies.isEmpty() ? new CopyOnWrite(this, arena) : copies.pop())
                                .start(a, storage, pos, stepEnd, buffers, at, r);
                        case WriteStep.WAIT -> waitFor(pending, r, () -> writeRange(p, stepEnd, buffers, at, r));
                        case WriteStep.WRITE_BACK -> {
                            // The rest of the write resumes once the format's metadata is written back.
                            writeBack(r, () -> writeRange(p, end, buffers, at, r, true));
                            return;
                        }
                        case WriteStep.METADATA -> {
                            new WriteBackRun(mapping, storages, writes, r, () -> writeRange(p, end, buffers, at, r, true)).start();
                            return;
                        }
                        case WriteStep.FETCH -> {
                            fetch(storage, host, fetchLength, token, r, () -> writeRange(p, end, buffers, at, r, true));
                            return;
                        }
                        default -> throw new IllegalStateException("unknown write step " + kind);
                    }
                }
                pos = stepEnd;
            }
            if (runLength > 0) {
                r.add();
                transfers.write(runStorage, runHost, buffers, bufOffset + (runGuest - start), runLength, runToken, runGuest, false, r);
            }
        } catch (IOException | RuntimeException e) {
            if (runLength > 0 && runToken != -1) {
                try {
                    mapping.written(runToken, runGuest, runLength, false); // planned, never issued
                } catch (IOException | RuntimeException ignored) {
                    // The request fails with the first error below.
                }
            }
            r.fail(errno(e));
        }
    }

    void own(Allocation a) {
        ownAllocations.add(a);
    }

    void recycle(CopyOnWrite c) {
        copies.push(c);
    }

    void recycle(MetadataFetch f) {
        fetches.push(f);
    }

    void recycle(StorageZero z) {
        storageSteps.push(z);
    }

    void recycle(ZeroWrite z) {
        zeroWrites.push(z);
    }

    StorageQueue storageQueue(Storage s) throws IOException {
        return storages.of(s);
    }

    /** Reads metadata the mapping asked for on the ring, then runs {@code retry}. */
    private void fetch(Storage s, long host, int length, long token, Request r, Runnable retry) throws IOException {
        (fetches.isEmpty() ? new MetadataFetch(this, mapping) : fetches.pop()).start(s, host, length, token, r, retry);
    }

    /**
     * An allocation's data write finished with {@code res}: commits it (or aborts it on failure,
     * or when the commit fails), wakes its waiters, and returns the result for its request.
     */
    int settle(Allocation a, int res) {
        for (int i = ownAllocations.size() - 1; i >= 0; i--) {
            if (ownAllocations.get(i) == a) { // by identity: allocations may compare by value
                ownAllocations.remove(i);
                break;
            }
        }
        List<Runnable> waiters;
        int result = Math.min(res, 0);
        if (result < 0) {
            waiters = mapping.abort(a);
        } else {
            try {
                waiters = mapping.commit(a);
            } catch (IOException | RuntimeException e) {
                waiters = mapping.abort(a);
                result = errno(e);
            }
        }
        for (int i = 0; i < waiters.size(); i++) {
            waiters.get(i).run();
        }
        return result;
    }

    /** Runs {@code retry} on this thread once {@code a} (an allocation, a write-back) is over. */
    private void waitFor(Pending a, Request r, Runnable retry) {
        r.add();
        try {
            wakeup.after(mapping, a, () -> {
                retry.run();
                r.complete(0, 0);
            });
        } catch (NativeException e) {
            r.complete(0, errno(e));
        }
    }

    // ---- flush, discard, write zeroes -----------------------------------------------------------

    /** Metadata first, written back in the format's stages on this ring, then every data storage. */
    @Override
    public void flush(IoCompletion done, long tag) {
        Request r = request(Request.Op.FLUSH, 0, 0, done, tag);
        if (closed) {
            r.fail(-Errno.EIO);
        } else if (mapping.writable()) {
            writeBack(r, () -> syncData(r));
        }
        r.complete(0, 0);
    }

    private void syncData(Request r) {
        try {
            List<Storage> data = mapping.dataStorages();
            for (int i = 0; i < data.size(); i++) {
                r.add();
                storages.of(data.get(i)).flush(r, 0);
            }
        } catch (IOException | RuntimeException e) {
            r.fail(errno(e));
        }
    }

    /**
     * Writes the format's dirty metadata back, then runs {@code then}; while another queue's
     * write-back runs, waits for it and begins again (the waiting request's changes may be newer
     * than that one's snapshot). {@code r} carries any failure.
     */
    private void writeBack(Request r, Runnable then) {
        try {
            mapping.beginWriteBack(writeBackStep);
            switch (writeBackStep.kind) {
                case WriteBackStep.DONE -> then.run();
                case WriteBackStep.WAIT -> waitFor(writeBackStep.pending, r, () -> writeBack(r, then));
                case WriteBackStep.RUN -> new WriteBackRun(mapping, storages, writeBackStep.writes, r, then).start();
                default -> throw new IllegalStateException("unknown write-back step " + writeBackStep.kind);
            }
        } catch (IOException | RuntimeException e) {
            r.fail(errno(e));
        }
    }

    @Override
    public void discard(long offset, long length, IoCompletion done, long tag) {
        Request r = begin(Request.Op.DISCARD, offset, length, true, done, tag);
        if (r != null) {
            clearRange(offset, offset + length, true, true, r);
            r.complete(0, 0);
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap, IoCompletion done, long tag) {
        Request r = begin(Request.Op.WRITE_ZEROES, offset, length, true, done, tag);
        if (r != null) {
            clearRange(offset, offset + length, false, mayUnmap, r);
            r.complete(0, 0);
        }
    }

    private void clearRange(long pos, long end, boolean discard, boolean mayUnmap, Request r) {
        clearRange(pos, end, discard, mayUnmap, r, false);
    }

    private void clearRange(long pos, long end, boolean discard, boolean mayUnmap, Request r, boolean metadataDone) {
        long start = pos;
        try {
            while (pos < end) {
                clearStep.metadataDone = metadataDone && pos == start;
                mapping.planClear(pos, end, discard, mayUnmap, clearStep);
                int kind = clearStep.kind;
                long stepEnd = clearStep.end;
                if ((stepEnd <= pos && kind != ClearStep.WRITE_BACK && kind != ClearStep.FETCH) || stepEnd > end) {
                    throw new IllegalStateException("clear step to " + stepEnd + " from " + pos + " (format error)");
                }
                long p = pos;
                if (kind == ClearStep.WRITE_BACK || kind == ClearStep.FETCH) {
                    long e = end;
                    Runnable retry = () -> clearRange(p, e, discard, mayUnmap, r, true);
                    if (kind == ClearStep.FETCH) {
                        // Nothing was issued since planning: the holder still holds this step.
                        fetch(clearStep.storage, clearStep.host, clearStep.fetchLength, clearStep.token, r, retry);
                    } else {
                        writeBack(r, retry);
                    }
                    return;
                }
                switch (kind) {
                    case ClearStep.DONE -> { }
                    case ClearStep.ZERO_STORAGE -> (storageSteps.isEmpty() ? new StorageZero(this, mapping) : storageSteps.pop())
                            .start(clearStep.storage, clearStep.host, pos, stepEnd - pos, clearStep.release, clearStep.token, r);
                    case ClearStep.WRITE_ZEROS -> (zeroWrites.isEmpty() ? new ZeroWrite(this, arena, zeros) : zeroWrites.pop())
                            .start(pos, stepEnd, r);
                    case ClearStep.WAIT -> waitFor(clearStep.pending, r, () -> clearRange(p, stepEnd, discard, mayUnmap, r));
                    default -> throw new IllegalStateException("unknown clear step " + kind);
                }
                pos = stepEnd;
            }
        } catch (IOException | RuntimeException e) {
            r.fail(errno(e));
        }
    }

    // ---- close ---------------------------------------------------------------------------------

    @Override
    public void stop() {
        storages.stop();
        if (backing != null) {
            backing.stop();
        }
    }

    /**
     * Releases everything; the ring has drained. Allocations still pending (only after a queue
     * failure) are aborted so other queues waiting on them go on.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Allocation a : List.copyOf(ownAllocations)) {
            for (Runnable w : mapping.abort(a)) {
                w.run();
            }
        }
        ownAllocations.clear();
        mapping.close();
        if (backing != null) {
            backing.close();
        }
        storages.close();
        wakeup.close();
        bounces.close();
        // The arena holds iovecs and buffers of completed operations only: the ring has drained.
        arena.close();
    }
}
