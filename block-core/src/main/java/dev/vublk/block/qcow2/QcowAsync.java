package dev.vublk.block.qcow2;

import dev.vublk.block.BlockImage;
import dev.vublk.block.BlockWorker;
import dev.vublk.block.Mapping;
import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The qcow2 data path of one queue thread, on that thread's ring. A request is cut along its
 * mappings: one READV/WRITEV per run of host-contiguous data, zeros filled inline, backing ranges
 * read through the backing image's own worker on the same ring, compressed clusters read and
 * inflated into the guest buffers. Writes to clusters that are not yet ours go through an
 * {@link AllocatingWrite}; a cluster another queue is allocating is retried when that queue
 * commits, which wakes this thread through an eventfd polled on its ring.
 *
 * <p>Reads and writes of allocated clusters allocate nothing in steady state: requests, their
 * operations and their iovec arrays come from pools, and the mapping lookup fills a reused
 * {@link MappingRuns}. With O_DIRECT, guest buffers that are not aligned for it pass through a
 * bounce buffer of the operation's; aligned ones go straight to the kernel.
 */
public final class QcowAsync implements BlockWorker {
    private final QcowMetadata meta;
    private final IoUring ring;
    private final BlockImage backing;
    private final BlockWorker backingWorker;
    private final NativeFile file;
    private final int dataFd;
    private final int clusterSize;
    private final Arena arena = Arena.ofShared();
    private final ArrayDeque<Request> requests = new ArrayDeque<>();
    private final ArrayDeque<BackingOp> backingOps = new ArrayDeque<>();
    private final ArrayDeque<CompressedOp> compressedOps = new ArrayDeque<>();
    private final ArrayDeque<IoVecArray> iovPool = new ArrayDeque<>();
    private final ArrayDeque<MemorySegment> clusterPool = new ArrayDeque<>();
    private final MappingRuns runs = new MappingRuns();
    private final InflightWrites inflight;
    private final MemorySegment inflated;
    private long inflatedHost = -1;
    private final Decompressor decompressor;
    private final MemorySegment zeros;
    private final QueueWakeup wakeup;
    private final DataTransfers transfers;
    /**
     * Allocations this queue started and has not yet committed or aborted. Normally empty when
     * the worker closes; after a queue failure (a throwable out of a completion) some may be
     * left, and {@link #close} aborts them so other queues waiting on those clusters go on.
     */
    private final ArrayList<PendingAllocation> ownAllocations = new ArrayList<>();
    private boolean closed;

    QcowAsync(QcowMetadata meta, NativeFile file, IoUring ring, BlockImage backing, BlockWorker backingWorker,
              int directAlignment) throws IOException {
        this.meta = meta;
        this.file = file;
        this.dataFd = meta.dataFile().fd();
        this.ring = ring;
        this.backing = backing;
        this.backingWorker = backingWorker;
        this.clusterSize = meta.clusterSize();
        this.inflated = arena.allocate(clusterSize, 4096);
        this.zeros = arena.allocate(clusterSize, 4096);
        this.decompressor = new Decompressor(meta.header().compressionType());
        this.wakeup = new QueueWakeup(ring);
        this.inflight = meta.dataFile().writable() ? meta.newInflightWrites() : new InflightWrites();
        this.transfers = new DataTransfers(ring, meta.dataFile().fd(), directAlignment, inflight, arena);
    }

    private boolean inRange(long offset, long length) {
        long size = meta.size();
        return offset >= 0 && length >= 0 && offset <= size && length <= size - offset;
    }

    private static int errno(Exception e) {
        return e instanceof NativeException n ? -Math.max(1, n.errno()) : -Errno.EIO;
    }

    // ---- request bookkeeping ----------------------------------------------------------------

    /** A guest request split into sub-operations; completes once all of them have, with the first error. */
    private final class Request implements IoCompletion {
        private IoCompletion done;
        private long tag;
        private int bytes;
        private int pending;
        private int error;

        /** One sub-operation (or the issuing guard) finished. */
        @Override
        public void complete(long ignored, int result) {
            if (result < 0 && error == 0) {
                error = result;
            }
            if (--pending == 0) {
                IoCompletion d = done;
                long t = tag;
                int res = error < 0 ? error : bytes;
                done = null;
                requests.push(this);
                d.complete(t, res);
            }
        }

        void add() {
            pending++;
        }

        void fail(int errno) {
            add();
            complete(0, errno);
        }
    }

    /** A pooled request holding one guard count, released by the issuer's {@code complete(0, 0)}. */
    private Request request(IoCompletion done, long tag, long bytes) {
        Request r = requests.isEmpty() ? new Request() : requests.pop();
        r.done = done;
        r.tag = tag;
        r.bytes = (int) Math.min(Integer.MAX_VALUE, bytes);
        r.pending = 1;
        r.error = 0;
        return r;
    }

    private IoVecArray single(MemorySegment seg, long offset, long length) {
        IoVecArray iov = iovPool.isEmpty() ? new IoVecArray(arena, IoVecArray.IOV_MAX) : iovPool.pop();
        iov.clear();
        iov.add(seg.address() + offset, length);
        return iov;
    }

    private MemorySegment clusterBuffer() {
        return clusterPool.isEmpty() ? arena.allocate(clusterSize, 4096) : clusterPool.pop();
    }

    // ---- reads ------------------------------------------------------------------------------

    @Override
    public void read(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        long length = buffers.totalBytes();
        if (closed || !inRange(offset, length)) {
            done.complete(tag, -Errno.EIO);
            return;
        }
        Request r = request(done, tag, length);
        readInto(offset, buffers, 0, length, r);
        r.complete(0, 0);
    }

    /** Reads guest {@code [offset, offset + length)} into {@code buffers} from {@code bufOffset} on. */
    private void readInto(long offset, IoVecArray buffers, long bufOffset, long length, Request r) {
        try {
            runs.clear();
            meta.map(offset, length, runs);
            for (int i = 0; i < runs.count(); i++) {
                long guest = runs.guest(i);
                long at = bufOffset + (guest - offset);
                long bytes = runs.length(i);
                switch (runs.kind(i)) {
                    case DATA -> {
                        r.add();
                        transfers.start(false, runs.host(i), buffers, at, bytes, -1, r);
                    }
                    case ZERO -> buffers.fill(at, bytes, (byte) 0);
                    case BACKING -> readBacking(guest, buffers, at, bytes, r);
                    case COMPRESSED -> readCompressed(guest, bytes, runs.host(i), runs.compressedLength(i), buffers, at, r);
                }
            }
        } catch (IOException | RuntimeException e) {
            r.fail(errno(e));
        }
    }

    /** A read handed to the backing image's worker. */
    private final class BackingOp implements IoCompletion {
        private final IoVecArray iov = new IoVecArray(arena, IoVecArray.IOV_MAX);
        private Request r;

        @Override
        public void complete(long ignored, int res) {
            Request req = r;
            r = null;
            backingOps.push(this);
            req.complete(0, Math.min(res, 0));
        }
    }

    private void readBacking(long guest, IoVecArray buffers, long at, long length, Request r) {
        long backed = backing == null ? 0 : Math.max(0, Math.min(length, backing.size() - guest));
        if (backed < length) {
            buffers.fill(at + backed, length - backed, (byte) 0);
        }
        if (backed == 0) {
            return;
        }
        BackingOp op = backingOps.isEmpty() ? new BackingOp() : backingOps.pop();
        op.iov.setSlice(buffers, at, backed);
        op.r = r;
        r.add();
        backingWorker.read(guest, op.iov, op, 0);
    }

    /** Reads a compressed stream, inflates it into this worker's one-cluster cache, copies the part asked for. */
    private final class CompressedOp implements IoCompletion {
        private final MemorySegment in = arena.allocate(2L * clusterSize + 512, 4096);
        private long host;
        private long within;
        private long length;
        private IoVecArray buffers;
        private long at;
        private Request r;

        @Override
        public void complete(long ignored, int res) {
            int result = 0;
            if (res < 0) {
                result = res;
            } else {
                inflatedHost = -1;
                if (decompressor.decompress(in.asSlice(0, res).asByteBuffer(), inflated.asByteBuffer())) {
                    inflatedHost = host;
                    buffers.copyFrom(inflated, within, at, length);
                } else {
                    result = -Errno.EIO;
                }
            }
            Request req = r;
            r = null;
            buffers = null;
            compressedOps.push(this);
            req.complete(0, result);
        }
    }

    private void readCompressed(long guest, long length, long host, long compressedLength, IoVecArray buffers, long at,
                                Request r) {
        long within = guest & (clusterSize - 1);
        if (inflatedHost == host) {
            buffers.copyFrom(inflated, within, at, length);
            return;
        }
        CompressedOp op = compressedOps.isEmpty() ? new CompressedOp() : compressedOps.pop();
        op.host = host;
        op.within = within;
        op.length = length;
        op.buffers = buffers;
        op.at = at;
        op.r = r;
        r.add();
        try {
            // The image file's buffered descriptor: compressed streams are neither sector-sized nor aligned.
            ring.read(file.fd(), op.in.address(), (int) Math.min(compressedLength, op.in.byteSize()), host, op, 0);
        } catch (NativeException e) {
            op.complete(0, errno(e));
        }
    }

    // ---- writes -----------------------------------------------------------------------------

    @Override
    public void write(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        long length = buffers.totalBytes();
        if (closed || !inRange(offset, length)) {
            done.complete(tag, -Errno.EIO);
            return;
        }
        Request r = request(done, tag, length);
        writeRange(offset, offset + length, buffers, 0, r);
        r.complete(0, 0);
    }

    /**
     * Writes guest {@code [pos, end)} from {@code buffers} at {@code bufOffset}. Clusters written
     * in place are registered in {@link #inflight} as they are looked up; host-contiguous ones
     * share one registration and one WRITEV.
     */
    private void writeRange(long pos, long end, IoVecArray buffers, long bufOffset, Request r) {
        int runSlot = -1;
        long runHost = -1, runStart = 0, runLength = 0;
        try {
            long start = pos;
            while (pos < end) {
                long clusterEnd = Math.min(end, (pos & -(long) clusterSize) + clusterSize);
                long at = bufOffset + (pos - start);
                long host = meta.inPlace(pos, clusterEnd, inflight, runSlot);
                WritePlan plan = null;
                if (host < 0) {
                    plan = meta.planWrite(pos, clusterEnd, inflight, runSlot);
                    if (plan instanceof WritePlan.InPlace(long h)) {
                        host = h;
                        plan = null;
                    }
                }
                if (plan == null) {
                    int slot = inflight.lastSlot();
                    if (slot == runSlot) {
                        runLength += clusterEnd - pos;
                    } else {
                        issueWrite(runHost, buffers, runStart, runLength, runSlot, r);
                        runSlot = slot;
                        runHost = host;
                        runStart = at;
                        runLength = clusterEnd - pos;
                    }
                } else {
                    issueWrite(runHost, buffers, runStart, runLength, runSlot, r);
                    runSlot = -1;
                    runHost = -1;
                    runLength = 0;
                    long p = pos, e = clusterEnd;
                    switch (plan) {
                        case WritePlan.Allocate(PendingAllocation a) -> new AllocatingWrite(a, p, e, buffers, at, r).start();
                        case WritePlan.Wait(PendingAllocation a) -> waitFor(a, r, () -> writeRange(p, e, buffers, at, r));
                        default -> throw new IllegalStateException("unexpected write plan " + plan);
                    }
                }
                pos = clusterEnd;
            }
            issueWrite(runHost, buffers, runStart, runLength, runSlot, r);
        } catch (IOException | RuntimeException e) {
            inflight.remove(runSlot); // registered but never issued
            r.fail(errno(e));
        }
    }

    private void issueWrite(long host, IoVecArray buffers, long at, long length, int slot, Request r) {
        if (host < 0 || length == 0) {
            return;
        }
        r.add();
        transfers.start(true, host, buffers, at, length, slot, r);
    }

    /**
     * Fills a pending allocation: old data for the parts of the cluster the guest does not write
     * (backing, zeros, compressed or shared data) is read into a bounce cluster, the guest data
     * copied in after it, and the whole range written in one operation; then the L2 entry is
     * committed and waiters on the cluster are woken. A write covering the whole range goes
     * straight from guest memory.
     */
    private final class AllocatingWrite implements IoCompletion {
        private final PendingAllocation a;
        private final long pos, end, at;
        private final IoVecArray buffers;
        private final Request r;
        private MemorySegment bounce;
        private IoVecArray whole;

        AllocatingWrite(PendingAllocation a, long pos, long end, IoVecArray buffers, long at, Request r) {
            this.a = a;
            this.pos = pos;
            this.end = end;
            this.buffers = buffers;
            this.at = at;
            this.r = r;
        }

        private long hostFor(long guest) {
            return a.hostOffset() + (guest & (clusterSize - 1));
        }

        void start() {
            r.add();
            ownAllocations.add(a);
            try {
                if (a.cowStart() == pos && a.cowEnd() == end) {
                    transfers.start(true, hostFor(pos), buffers, at, end - pos, -1, this);
                    return;
                }
                bounce = clusterBuffer();
                whole = single(bounce, 0, a.cowEnd() - a.cowStart());
                Request cow = request((t, res) -> copied(res), 0, 0);
                if (pos > a.cowStart()) {
                    readInto(a.cowStart(), whole, 0, pos - a.cowStart(), cow);
                }
                if (a.cowEnd() > end) {
                    readInto(end, whole, end - a.cowStart(), a.cowEnd() - end, cow);
                }
                cow.complete(0, 0);
            } catch (RuntimeException e) {
                complete(0, errno(e));
            }
        }

        private void copied(int res) {
            if (res < 0) {
                complete(0, res);
                return;
            }
            try {
                buffers.copyTo(at, bounce, pos - a.cowStart(), end - pos);
                transfers.start(true, hostFor(a.cowStart()), whole, 0, a.cowEnd() - a.cowStart(), -1, this);
            } catch (RuntimeException e) {
                complete(0, errno(e));
            }
        }

        /** The data write finished with 0 or an error: commit or abort the allocation. */
        @Override
        public void complete(long ignored, int res) {
            if (bounce != null) {
                clusterPool.push(bounce);
                iovPool.push(whole);
                bounce = null;
            }
            List<Runnable> waiters;
            int result = res;
            ownAllocations.removeIf(own -> own == a); // by identity: records compare by value
            if (result < 0) {
                waiters = meta.abort(a);
            } else {
                try {
                    waiters = meta.commit(a);
                } catch (IOException | RuntimeException e) {
                    waiters = meta.abort(a);
                    result = -Errno.EIO;
                }
            }
            for (Runnable w : waiters) {
                w.run();
            }
            r.complete(0, result);
        }
    }

    /** Runs {@code retry} on this thread once {@code a} has committed or failed. */
    private void waitFor(PendingAllocation a, Request r, Runnable retry) throws NativeException {
        r.add();
        wakeup.after(meta, a, () -> {
            retry.run();
            r.complete(0, 0);
        });
    }

    // ---- flush, discard, write zeroes -------------------------------------------------------

    /**
     * Metadata is written synchronously here (in dependency order, see {@link MetadataFlusher}):
     * it is a handful of table writes and syncs that must complete in order before the data fsync,
     * and running them on the queue thread keeps them serialized with this queue's own requests.
     */
    @Override
    public void flush(IoCompletion done, long tag) {
        try {
            if (!closed && meta.dataFile().writable()) {
                meta.flush();
                ring.fsync(dataFd, false, done, tag);
                return;
            }
            done.complete(tag, closed ? -Errno.EIO : 0);
        } catch (IOException | RuntimeException e) {
            done.complete(tag, errno(e));
        }
    }

    @Override
    public void discard(long offset, long length, IoCompletion done, long tag) {
        zeroRange(offset, length, true, true, done, tag);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap, IoCompletion done, long tag) {
        zeroRange(offset, length, false, mayUnmap, done, tag);
    }

    /**
     * Whole clusters (subclusters with extended L2) change in metadata only. The partial ones at
     * either end are written as zeros for write-zeroes and left alone for a discard, which virtio
     * allows: a discard never changes data it does not cover completely.
     */
    private void zeroRange(long offset, long length, boolean discard, boolean unmap, IoCompletion done, long tag) {
        if (closed || !inRange(offset, length)) {
            done.complete(tag, -Errno.EIO);
            return;
        }
        if (!meta.dataFile().writable()) {
            done.complete(tag, -Errno.EROFS);
            return;
        }
        Request r = request(done, tag, 0);
        long unit = meta.header().extendedL2() ? clusterSize / L2Entry.SUBCLUSTERS : clusterSize;
        long pos = offset, end = offset + length;
        while (pos < end) {
            long clusterEnd = Math.min(end, (pos & -(long) clusterSize) + clusterSize);
            long a = Math.min(clusterEnd, (pos + unit - 1) & -unit);
            long b = Math.max(a, clusterEnd & -unit);
            if (!discard) {
                writeZeros(pos, a, r);
                writeZeros(b, clusterEnd, r);
            }
            if (a < b) {
                zeroMetadata(a, b, discard, unmap, r);
            }
            pos = clusterEnd;
        }
        r.complete(0, 0);
    }

    private void zeroMetadata(long a, long b, boolean discard, boolean unmap, Request r) {
        try {
            switch (meta.zero(a, b, discard, unmap)) {
                case WritePlan.Wait(PendingAllocation p) -> waitFor(p, r, () -> zeroMetadata(a, b, discard, unmap, r));
                case WritePlan.WriteZeros z -> writeZeros(a, b, r);
                default -> { }
            }
        } catch (IOException | RuntimeException e) {
            r.fail(errno(e));
        }
    }

    /** Zeros within one cluster written as data, for what metadata alone cannot express. */
    private void writeZeros(long pos, long end, Request r) {
        if (pos >= end) {
            return;
        }
        IoVecArray iov = new IoVecArray(1); // its own auto arena: it lives until the write it feeds completes
        iov.add(zeros.address(), end - pos);
        writeRange(pos, end, iov, 0, r);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        // The ring has drained: nothing of this queue still writes to these clusters.
        for (PendingAllocation a : ownAllocations) {
            for (Runnable w : meta.abort(a)) {
                w.run();
            }
        }
        ownAllocations.clear();
        meta.forget(inflight);
        if (backingWorker != null) {
            backingWorker.close();
        }
        decompressor.close();
        wakeup.close();
        transfers.close();
        // The arena holds iovecs and bounce buffers of completed operations only: the ring has drained.
        arena.close();
    }
}
