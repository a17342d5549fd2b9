package dev.vublk.block.vhdx;

import dev.vublk.block.BlockWorker;
import dev.vublk.block.BounceBuffers;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The per-queue side of a VHDX image. A request is split at block boundaries (and at runs of the
 * sector bitmap); each mapped piece becomes one io_uring operation on a pooled iovec array sliced
 * from the guest's buffers, and the guest request completes when the last piece has. Metadata
 * changes (allocation, bitmap updates, block state) are synchronous calls into the shared
 * {@link VhdxMetadata}, whose log makes them durable before they take effect.
 *
 * <p>Reads and writes of allocated blocks take no lock, make no synchronous system call and, once
 * the pools are warm, allocate nothing: requests and pieces are pooled objects, the lookup fills
 * a reused {@link Extent}, and text is built only when something fails. With O_DIRECT, pieces
 * whose guest memory misses the alignment go through a bounce buffer lent by the queue's
 * {@link BounceBuffers} (a fixed budget; a transfer beyond it fails).
 */
public final class VhdxAsync implements BlockWorker {
    private static final Logger LOG = LoggerFactory.getLogger(VhdxAsync.class);
    private static final int MODE_PUNCH = NativeFile.FALLOC_FL_PUNCH_HOLE | NativeFile.FALLOC_FL_KEEP_SIZE;
    private static final int MODE_ZERO = NativeFile.FALLOC_FL_ZERO_RANGE | NativeFile.FALLOC_FL_KEEP_SIZE;

    private enum Op { READ, WRITE, FLUSH, DISCARD, WRITE_ZEROES }

    private final VhdxImage image;
    private final VhdxMetadata meta;
    private final IoUring ring;
    private final int alignment;
    private final Arena arena = Arena.ofShared();
    private final ArrayDeque<IoVecArray> iovPool = new ArrayDeque<>();
    private final ArrayDeque<Request> requestPool = new ArrayDeque<>();
    private final ArrayDeque<Piece> piecePool = new ArrayDeque<>();
    private final BounceBuffers bounces = new BounceBuffers();
    private final Extent extent = new Extent();

    VhdxAsync(VhdxImage image, IoUring ring) {
        this.image = image;
        this.meta = image.metadata();
        this.ring = ring;
        this.alignment = image.memoryAlignment();
    }

    /** One guest request: completes once every piece has, with the first error if any. */
    private final class Request {
        IoCompletion done;
        long tag;
        Op op;
        long offset;
        long length;
        int pending;
        int error;

        /** Records the first failure; the message is built here, off the success path. */
        void fail(int errno, String reason, Throwable cause) {
            if (error == 0) {
                error = errno;
                LOG.warn("{}: {} of {} bytes at guest offset {} failed: {}", meta.path(), op.name().toLowerCase(), length, offset,
                        cause != null ? cause.toString() : reason != null ? reason : Errno.name(errno));
            }
        }

        void finishOne() {
            if (--pending == 0) {
                IoCompletion d = done;
                long t = tag;
                int result = error == 0 ? 0 : -Math.abs(error);
                done = null;
                requestPool.push(this);
                d.complete(t, result);
            }
        }
    }

    /** Starts a request; the submitting call holds one count until it has issued every piece. */
    private Request begin(Op op, long offset, long length, IoCompletion done, long tag) {
        Request r = requestPool.poll();
        if (r == null) {
            r = new Request();
        }
        r.done = done;
        r.tag = tag;
        r.op = op;
        r.offset = offset;
        r.length = length;
        r.pending = 1;
        r.error = 0;
        return r;
    }

    /** One io_uring operation of a request, with what must follow it. */
    private final class Piece implements IoCompletion {
        Request request;
        IoVecArray iov;
        long expected;
        /** Sectors of a partially present block to mark present once the data is down; block -1: none. */
        long markBlock = -1;
        long markFirst;
        long markCount;
        /** For a fallocate: enough to resubmit with the other mode where one is not supported. */
        int mode;
        int fd;
        long host;
        boolean retried;
        /** A bounced read: copy {@code expected} bytes from the bounce buffer to the guest at {@code guestPos}. */
        IoVecArray guest;
        long guestPos;
        /** The bounce buffer of an O_DIRECT transfer of misaligned guest memory, or null. */
        BounceBuffers.Buffer bounce;

        @Override
        public void complete(long ignored, int result) {
            Request r = request;
            if (result == -Errno.ENOTSUP && mode != 0 && !retried) {
                retried = true;
                mode = mode == MODE_ZERO ? MODE_PUNCH : MODE_ZERO; // either reads back as zeros
                try {
                    ring.fallocate(fd, mode, host, expected, this, 0);
                    return;
                } catch (NativeException e) {
                    result = -Math.max(1, e.errno());
                }
            }
            try {
                if (result < 0) {
                    r.fail(-result, null, null);
                } else if (mode == 0 && expected >= 0 && result != expected) {
                    r.fail(Errno.EIO, "short transfer", null);
                } else {
                    try {
                        if (guest != null) {
                            GuestBuffers.copyIn(bounce.segment(), guest, guestPos, expected);
                        }
                        if (markBlock >= 0) {
                            meta.setSectorsPresent(markBlock, markFirst, markCount, true);
                        }
                    } catch (IOException | RuntimeException e) {
                        r.fail(Errno.EIO, null, e);
                    }
                }
            } finally {
                recycle(); // even when guest memory faults: the operation is over, its bounce buffer goes back
            }
            r.finishOne();
        }

        void recycle() {
            if (bounce != null) {
                bounces.give(bounce);
                bounce = null;
            }
            if (iov != null) {
                iovPool.push(iov);
            }
            iov = null;
            guest = null;
            request = null;
            markBlock = -1;
            mode = 0;
            retried = false;
            piecePool.push(this);
        }
    }

    private Piece piece(Request r, long expected) {
        Piece p = piecePool.poll();
        if (p == null) {
            p = new Piece();
        }
        p.request = r;
        p.expected = expected;
        return p;
    }

    private IoVecArray iov() {
        IoVecArray iov = iovPool.poll();
        return iov != null ? iov : new IoVecArray(arena, IoVecArray.IOV_MAX);
    }

    /**
     * Issues one read or write of bytes {@code [pos, pos+len)} of the request at {@code host} in
     * {@code fd}, through a bounce buffer if O_DIRECT cannot take the guest memory as it is.
     */
    private void transfer(Request r, boolean write, int fd, long host, IoVecArray buffers, long pos, long len, long markBlock,
                          long markFirst, long markCount) throws NativeException {
        Piece p = piece(r, len);
        p.markBlock = markBlock;
        p.markFirst = markFirst;
        p.markCount = markCount;
        IoVecArray iov = iov();
        p.iov = iov;
        if (alignment > 1 && !GuestBuffers.aligned(buffers, pos, len, alignment)) {
            p.bounce = bounces.take(len);
            if (p.bounce == null) {
                p.recycle();
                throw new NativeException("O_DIRECT bounce buffer of " + len + " bytes (the queue's budget of "
                        + BounceBuffers.BUDGET_BYTES + " bytes is in use)", Errno.ENOMEM);
            }
            MemorySegment b = p.bounce.segment();
            if (write) {
                GuestBuffers.copyOut(buffers, pos, b, len);
            } else {
                p.guest = buffers;
                p.guestPos = pos;
            }
            iov.clear();
            iov.add(b.address(), len);
        } else {
            iov.setSlice(buffers, pos, len);
        }
        r.pending++;
        try {
            if (write) {
                ring.writev(fd, iov, host, p, 0);
            } else {
                ring.readv(fd, iov, host, p, 0);
            }
        } catch (NativeException | RuntimeException e) {
            r.pending--;
            p.recycle();
            throw e;
        }
    }

    private void fallocate(Request r, int mode, long host, long len, long markBlock, long markFirst, long markCount)
            throws NativeException {
        Piece p = piece(r, len);
        p.mode = mode;
        p.fd = image.dataFile().fd();
        p.host = host;
        p.markBlock = markBlock;
        p.markFirst = markFirst;
        p.markCount = markCount;
        r.pending++;
        try {
            ring.fallocate(p.fd, mode, host, len, p, 0);
        } catch (NativeException | RuntimeException e) {
            r.pending--;
            p.recycle();
            throw e;
        }
    }

    private boolean badRange(long offset, long length) {
        int align = image.requestAlignment();
        long size = image.size();
        return offset < 0 || length < 0 || offset % align != 0 || length % align != 0 || offset > size || length > size - offset;
    }

    @Override
    public void read(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        long total = buffers.totalBytes();
        Request r = begin(Op.READ, offset, total, done, tag);
        if (badRange(offset, total)) {
            r.fail(Errno.EIO, "range outside the image or misaligned", null);
        } else {
            try {
                Extent e = extent;
                for (long pos = 0; pos < total; ) {
                    image.resolve(offset + pos, total - pos, e);
                    // Copied out first: submitting may deliver completions whose callbacks start
                    // new requests on this worker, which reuse the extent.
                    long n = e.length;
                    if (n <= 0) {
                        throw new IOException("range ends past the disk (resized meanwhile?)");
                    }
                    if (e.kind == Extent.DATA) {
                        transfer(r, false, e.file.fd(), e.hostOffset, buffers, pos, n, -1, 0, 0);
                    } else {
                        GuestBuffers.zero(buffers, pos, n);
                    }
                    pos += n;
                }
            } catch (IOException | RuntimeException e) {
                r.fail(Errno.EIO, null, e);
            }
        }
        r.finishOne();
    }

    @Override
    public void write(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        long total = buffers.totalBytes();
        Request r = begin(Op.WRITE, offset, total, done, tag);
        if (!refusedChange(r, offset, total)) {
            try {
                meta.beginWrites();
                long bs = meta.blockSize();
                int ls = meta.logicalSectorSize();
                int fd = image.dataFile().fd();
                for (long pos = 0; pos < total; ) {
                    long guest = offset + pos;
                    long block = guest / bs;
                    long inBlock = guest % bs;
                    long len = Math.min(total - pos, bs - inBlock);
                    long raw = meta.payloadEntry(block);
                    if (!BatEntry.hasData(BatEntry.state(raw))) {
                        raw = meta.allocate(block);
                    }
                    boolean partial = BatEntry.state(raw) == BatEntry.PARTIALLY_PRESENT;
                    transfer(r, true, fd, BatEntry.fileOffset(raw) + inBlock, buffers, pos, len,
                            partial ? block : -1, inBlock / ls, len / ls);
                    pos += len;
                }
            } catch (IOException | RuntimeException e) {
                r.fail(Errno.EIO, null, e);
            }
        }
        r.finishOne();
    }

    /** Fails a request that would change a read-only image or reach outside it; true if it did. */
    private boolean refusedChange(Request r, long offset, long length) {
        if (image.readOnly()) {
            r.fail(Errno.EROFS, "read-only image", null);
            return true;
        }
        if (badRange(offset, length)) {
            r.fail(Errno.EIO, "range outside the image or misaligned", null);
            return true;
        }
        return false;
    }

    @Override
    public void flush(IoCompletion done, long tag) {
        Request r = begin(Op.FLUSH, 0, 0, done, tag);
        if (!image.readOnly()) {
            Piece p = piece(r, -1);
            r.pending++;
            try {
                ring.fsync(image.dataFile().fd(), false, p, 0);
            } catch (NativeException | RuntimeException e) {
                r.pending--;
                p.recycle();
                r.fail(Errno.EIO, null, e);
            }
        }
        r.finishOne();
    }

    @Override
    public void discard(long offset, long length, IoCompletion done, long tag) {
        clear(Op.DISCARD, offset, length, true, done, tag);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap, IoCompletion done, long tag) {
        clear(Op.WRITE_ZEROES, offset, length, mayUnmap, done, tag);
    }

    /** Discard and write-zeroes, block by block; see {@link ClearPolicy} for what each block state becomes. */
    private void clear(Op op, long offset, long length, boolean mayUnmap, IoCompletion done, long tag) {
        Request r = begin(op, offset, length, done, tag);
        if (!refusedChange(r, offset, length)) {
            try {
                meta.beginWrites();
                long bs = meta.blockSize();
                int ls = meta.logicalSectorSize();
                boolean zeroes = op == Op.WRITE_ZEROES;
                for (long pos = 0; pos < length; ) {
                    long guest = offset + pos;
                    long block = guest / bs;
                    long inBlock = guest % bs;
                    long len = Math.min(length - pos, bs - inBlock);
                    boolean whole = inBlock == 0 && (len == bs || guest + len == image.size());
                    long raw = meta.payloadEntry(block);
                    long host = BatEntry.fileOffset(raw) + inBlock;
                    switch (ClearPolicy.action(meta, BatEntry.state(raw), whole, zeroes, mayUnmap)) {
                        case ClearPolicy.ZERO_IN_PLACE -> fallocate(r, MODE_ZERO, host, len, -1, 0, 0);
                        case ClearPolicy.PUNCH -> fallocate(r, MODE_PUNCH, host, len, -1, 0, 0);
                        case ClearPolicy.ZERO_AND_MARK -> fallocate(r, mayUnmap ? MODE_PUNCH : MODE_ZERO, host, len, block, inBlock / ls, len / ls);
                        case ClearPolicy.ALLOCATE_ZERO_AND_MARK -> {
                            long fresh = meta.allocate(block);
                            boolean partial = BatEntry.state(fresh) == BatEntry.PARTIALLY_PRESENT;
                            fallocate(r, MODE_ZERO, BatEntry.fileOffset(fresh) + inBlock, len, partial ? block : -1, inBlock / ls, len / ls);
                        }
                        case ClearPolicy.STATE_ZERO -> meta.releaseBlock(block, BatEntry.ZERO);
                        case ClearPolicy.STATE_UNMAPPED -> meta.releaseBlock(block, BatEntry.UNMAPPED);
                        default -> { } // NOTHING: the range already reads as the operation allows
                    }
                    pos += len;
                }
            } catch (IOException | RuntimeException e) {
                r.fail(Errno.EIO, null, e);
            }
        }
        r.finishOne();
    }

    @Override
    public void close() {
        bounces.close(); // every piece gave its buffer back: the ring has drained
        piecePool.clear();
        iovPool.clear();
        requestPool.clear();
        arena.close();
    }
}
