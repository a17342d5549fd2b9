package dev.vublk.block.qcow2;

import dev.vublk.block.BlockImage;
import dev.vublk.block.BlockWorker;
import dev.vublk.block.Mapping;
import dev.vublk.uring.Errno;
import dev.vublk.uring.EventFd;
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
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The qcow2 data path of one queue thread, on that thread's ring. A request is cut along its
 * mappings: one READV/WRITEV per run of host-contiguous data, zeros filled inline, backing ranges
 * read through the backing image's own worker on the same ring, compressed clusters read and
 * inflated into the guest buffers. Writes to clusters that are not yet ours go through an
 * {@link AllocatingWrite}; a cluster another queue is allocating is retried when that queue
 * commits, which wakes this thread through an eventfd polled on its ring.
 */
public final class QcowAsync implements BlockWorker {
    private final QcowMetadata meta;
    private final IoUring ring;
    private final BlockImage backing;
    private final BlockWorker backingWorker;
    private final NativeFile file;
    private final int clusterSize;
    private final Arena arena = Arena.ofShared();
    private final ArrayDeque<IoVecArray> iovPool = new ArrayDeque<>();
    private final ArrayDeque<MemorySegment> clusterPool = new ArrayDeque<>();
    private final ArrayDeque<MemorySegment> compressedPool = new ArrayDeque<>();
    private final MemorySegment inflated;
    private long inflatedHost = -1;
    private final Decompressor decompressor;
    private final MemorySegment zeros;
    private final EventFd wake;
    private final ConcurrentLinkedQueue<Runnable> posted = new ConcurrentLinkedQueue<>();
    private int waiting;
    private boolean pollArmed;
    private boolean closed;

    QcowAsync(QcowMetadata meta, NativeFile file, IoUring ring, BlockImage backing, BlockWorker backingWorker) throws IOException {
        this.meta = meta;
        this.file = file;
        this.ring = ring;
        this.backing = backing;
        this.backingWorker = backingWorker;
        this.clusterSize = meta.clusterSize();
        this.inflated = arena.allocate(clusterSize, 4096);
        this.zeros = arena.allocate(clusterSize, 4096);
        this.decompressor = new Decompressor(meta.header().compressionType());
        this.wake = EventFd.create(EventFd.EFD_NONBLOCK);
    }

    private boolean inRange(long offset, long length) {
        long size = meta.size();
        return offset >= 0 && length >= 0 && offset <= size && length <= size - offset;
    }

    // ---- request bookkeeping ----------------------------------------------------------------

    /** A guest request split into sub-operations; completes once all of them have, with the first error. */
    private static final class Request implements IoCompletion {
        private final IoCompletion done;
        private final long tag;
        private final int bytes;
        private int pending = 1;
        private int error;

        Request(IoCompletion done, long tag, long bytes) {
            this.done = done;
            this.tag = tag;
            this.bytes = (int) Math.min(Integer.MAX_VALUE, bytes);
        }

        void add() {
            pending++;
        }

        /** One sub-operation (or the issuing guard) finished. */
        @Override
        public void complete(long ignored, int result) {
            if (result < 0 && error == 0) {
                error = result;
            }
            if (--pending == 0) {
                done.complete(tag, error < 0 ? error : bytes);
            }
        }

        void fail(int errno) {
            add();
            complete(0, errno);
        }
    }

    private IoVecArray slice(IoVecArray source, long offset, long length) {
        IoVecArray iov = iovPool.isEmpty() ? new IoVecArray(arena, IoVecArray.IOV_MAX) : iovPool.pop();
        iov.setSlice(source, offset, length);
        return iov;
    }

    private IoVecArray single(MemorySegment seg, long offset, long length) {
        IoVecArray iov = iovPool.isEmpty() ? new IoVecArray(arena, IoVecArray.IOV_MAX) : iovPool.pop();
        iov.clear();
        iov.add(seg.address() + offset, length);
        return iov;
    }

    private void recycle(IoVecArray iov) {
        iovPool.push(iov);
    }

    private MemorySegment clusterBuffer() {
        return clusterPool.isEmpty() ? arena.allocate(clusterSize, 4096) : clusterPool.pop();
    }

    private static int errno(Exception e) {
        return e instanceof NativeException n ? -Math.max(1, n.errno()) : -Errno.EIO;
    }

    // ---- reads ------------------------------------------------------------------------------

    @Override
    public void read(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        long length = buffers.totalBytes();
        if (closed || !inRange(offset, length)) {
            done.complete(tag, -Errno.EIO);
            return;
        }
        Request r = new Request(done, tag, length);
        readInto(offset, buffers, 0, length, r);
        r.complete(0, 0);
    }

    /** Reads guest {@code [offset, offset + length)} into {@code buffers} from {@code bufOffset} on. */
    private void readInto(long offset, IoVecArray buffers, long bufOffset, long length, Request r) {
        List<Mapping> maps = new ArrayList<>();
        try {
            meta.map(offset, length, maps);
            for (Mapping m : maps) {
                long at = bufOffset + (m.guestOffset() - offset);
                switch (m.kind()) {
                    case DATA -> readData(m.file(), m.hostOffset(), buffers, at, m.length(), r);
                    case ZERO -> buffers.fill(at, m.length(), (byte) 0);
                    case BACKING -> readBacking(m.guestOffset(), buffers, at, m.length(), r);
                    case COMPRESSED -> readCompressed(m, buffers, at, r);
                }
            }
        } catch (IOException | RuntimeException e) {
            r.fail(errno(e));
        }
    }

    private void readData(NativeFile f, long host, IoVecArray buffers, long at, long length, Request r) throws NativeException {
        IoVecArray iov = slice(buffers, at, length);
        r.add();
        ring.readv(f.fd(), iov, host, (t, res) -> {
            recycle(iov);
            if (res >= 0 && res < length) {
                buffers.fill(at + res, length - res, (byte) 0); // past the end of the file reads as zeros
            }
            r.complete(0, Math.min(res, 0));
        }, 0);
    }

    private void readBacking(long guest, IoVecArray buffers, long at, long length, Request r) {
        long backed = backing == null ? 0 : Math.max(0, Math.min(length, backing.size() - guest));
        if (backed < length) {
            buffers.fill(at + backed, length - backed, (byte) 0);
        }
        if (backed == 0) {
            return;
        }
        IoVecArray iov = slice(buffers, at, backed);
        r.add();
        backingWorker.read(guest, iov, (t, res) -> {
            recycle(iov);
            r.complete(0, Math.min(res, 0));
        }, 0);
    }

    /** Reads the compressed stream, inflates it into this worker's one-cluster cache, copies the part asked for. */
    private void readCompressed(Mapping m, IoVecArray buffers, long at, Request r) throws NativeException {
        long within = m.guestOffset() & (clusterSize - 1);
        if (inflatedHost == m.hostOffset()) {
            buffers.copyFrom(inflated, within, at, m.length());
            return;
        }
        MemorySegment in = compressedPool.isEmpty() ? arena.allocate(2L * clusterSize + 512, 4096) : compressedPool.pop();
        int length = (int) Math.min(m.compressedLength(), in.byteSize());
        r.add();
        ring.read(file.fd(), in.address(), length, m.hostOffset(), (t, res) -> {
            int result = 0;
            if (res < 0) {
                result = res;
            } else {
                inflatedHost = -1;
                if (decompressor.decompress(in.asSlice(0, res).asByteBuffer(), inflated.asByteBuffer())) {
                    inflatedHost = m.hostOffset();
                    buffers.copyFrom(inflated, within, at, m.length());
                } else {
                    result = -Errno.EIO;
                }
            }
            compressedPool.push(in);
            r.complete(0, result);
        }, 0);
    }

    // ---- writes -----------------------------------------------------------------------------

    @Override
    public void write(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        long length = buffers.totalBytes();
        if (closed || !inRange(offset, length)) {
            done.complete(tag, -Errno.EIO);
            return;
        }
        Request r = new Request(done, tag, length);
        writeRange(offset, offset + length, buffers, 0, r);
        r.complete(0, 0);
    }

    /** Writes guest {@code [pos, end)} from {@code buffers} at {@code bufOffset}, merging in-place runs. */
    private void writeRange(long pos, long end, IoVecArray buffers, long bufOffset, Request r) {
        long runHost = -1, runStart = 0, runLength = 0;
        try {
            long start = pos;
            while (pos < end) {
                long clusterEnd = Math.min(end, (pos & -(long) clusterSize) + clusterSize);
                long at = bufOffset + (pos - start);
                WritePlan plan = meta.planWrite(pos, clusterEnd);
                if (plan instanceof WritePlan.InPlace(long host)) {
                    if (runHost >= 0 && runHost + runLength == host) {
                        runLength += clusterEnd - pos;
                    } else {
                        issueWrite(runHost, buffers, runStart, runLength, r);
                        runHost = host;
                        runStart = at;
                        runLength = clusterEnd - pos;
                    }
                } else {
                    issueWrite(runHost, buffers, runStart, runLength, r);
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
            issueWrite(runHost, buffers, runStart, runLength, r);
        } catch (IOException | RuntimeException e) {
            r.fail(errno(e));
        }
    }

    private void issueWrite(long host, IoVecArray buffers, long at, long length, Request r) throws NativeException {
        if (host < 0 || length == 0) {
            return;
        }
        IoVecArray iov = slice(buffers, at, length);
        r.add();
        ring.writev(meta.dataFile().fd(), iov, host, (t, res) -> {
            recycle(iov);
            r.complete(0, res >= 0 && res < length ? -Errno.EIO : Math.min(res, 0));
        }, 0);
    }

    /**
     * Fills a pending allocation: old data for the parts of the cluster the guest does not write
     * (backing, zeros, compressed or shared data) is read into a bounce cluster, the guest data
     * copied in after it, and the whole range written in one operation; then the L2 entry is
     * committed and waiters on the cluster are woken. A write covering the whole range goes
     * straight from guest memory.
     */
    private final class AllocatingWrite {
        private final PendingAllocation a;
        private final long pos, end, at;
        private final IoVecArray buffers;
        private final Request r;
        private MemorySegment bounce;

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
            try {
                if (a.cowStart() == pos && a.cowEnd() == end) {
                    IoVecArray iov = slice(buffers, at, end - pos);
                    ring.writev(meta.dataFile().fd(), iov, hostFor(pos), (t, res) -> {
                        recycle(iov);
                        written(res, end - pos);
                    }, 0);
                    return;
                }
                bounce = clusterBuffer();
                IoVecArray whole = single(bounce, 0, a.cowEnd() - a.cowStart());
                Request cow = new Request((t, res) -> copied(res, whole), 0, 0);
                if (pos > a.cowStart()) {
                    readInto(a.cowStart(), whole, 0, pos - a.cowStart(), cow);
                }
                if (a.cowEnd() > end) {
                    readInto(end, whole, end - a.cowStart(), a.cowEnd() - end, cow);
                }
                cow.complete(0, 0);
            } catch (IOException | RuntimeException e) {
                written(errno(e), 0);
            }
        }

        private void copied(int res, IoVecArray whole) {
            if (res < 0) {
                recycle(whole);
                written(res, 0);
                return;
            }
            try {
                buffers.copyTo(at, bounce, pos - a.cowStart(), end - pos);
                long length = a.cowEnd() - a.cowStart();
                ring.writev(meta.dataFile().fd(), whole, hostFor(a.cowStart()), (t, wres) -> {
                    recycle(whole);
                    written(wres, length);
                }, 0);
            } catch (IOException | RuntimeException e) {
                recycle(whole);
                written(errno(e), 0);
            }
        }

        private void written(int res, long expected) {
            if (bounce != null) {
                clusterPool.push(bounce);
                bounce = null;
            }
            List<Runnable> waiters;
            int result = res >= 0 && res < expected ? -Errno.EIO : Math.min(res, 0);
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

    // ---- waiting for another queue's allocation ---------------------------------------------

    /** Runs {@code retry} on this thread once {@code a} has committed or failed. */
    private void waitFor(PendingAllocation a, Request r, Runnable retry) throws NativeException {
        r.add();
        waiting++;
        Runnable resume = () -> {
            retry.run();
            r.complete(0, 0);
        };
        if (!meta.await(a, () -> post(resume))) {
            post(resume);
        }
        armPoll();
    }

    /** Hands {@code task} to this worker's thread; callable from any thread. */
    private void post(Runnable task) {
        posted.add(task);
        try {
            wake.write(1);
        } catch (NativeException e) {
            throw new IllegalStateException("cannot wake queue thread", e);
        }
    }

    private void armPoll() throws NativeException {
        if (!pollArmed) {
            pollArmed = true;
            ring.pollAdd(wake.fd(), IoUring.POLLIN, (t, res) -> woken(), 0);
        }
    }

    private void woken() {
        pollArmed = false;
        try {
            wake.read();
        } catch (NativeException e) {
            // EAGAIN: the counter was already reset by an earlier wake-up.
        }
        Runnable task;
        while ((task = posted.poll()) != null) {
            waiting--;
            task.run();
        }
        if (waiting > 0) {
            try {
                armPoll();
            } catch (NativeException e) {
                throw new IllegalStateException("cannot poll the wake-up eventfd", e);
            }
        }
    }

    // ---- flush, discard, write zeroes -------------------------------------------------------

    /**
     * Metadata is written synchronously here (in dependency order, see {@link QcowMetadata#flush}):
     * it is a handful of table writes and syncs that must complete in order before the data fsync,
     * and running them on the queue thread keeps them serialized with this queue's own requests.
     */
    @Override
    public void flush(IoCompletion done, long tag) {
        try {
            if (!closed && meta.dataFile().writable()) {
                meta.flush();
                ring.fsync(meta.dataFile().fd(), false, done, tag);
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

    private void zeroRange(long offset, long length, boolean discard, boolean unmap, IoCompletion done, long tag) {
        if (closed || !inRange(offset, length)) {
            done.complete(tag, -Errno.EIO);
            return;
        }
        if (!meta.dataFile().writable()) {
            done.complete(tag, -Errno.EROFS);
            return;
        }
        Request r = new Request(done, tag, 0);
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
        if (backingWorker != null) {
            backingWorker.close();
        }
        decompressor.close();
        wake.close();
        // The arena holds iovecs and bounce buffers of completed operations only: the ring has drained.
        arena.close();
    }
}
