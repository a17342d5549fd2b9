package dev.vublk.block.vhdx;

import dev.vublk.block.BlockWorker;
import dev.vublk.block.Mapping;
import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The per-queue side of a VHDX image. A request is split at block boundaries (and at runs of the
 * sector bitmap); each mapped piece becomes one io_uring operation on a pooled iovec array sliced
 * from the guest's buffers, and the guest request completes when the last piece has. Metadata
 * changes (allocation, bitmap updates, block state) are synchronous calls into the shared
 * {@link VhdxMetadata}, whose log makes them durable before they take effect.
 */
public final class VhdxAsync implements BlockWorker {
    private static final Logger LOG = LoggerFactory.getLogger(VhdxAsync.class);
    private static final int MODE_PUNCH = NativeFile.FALLOC_FL_PUNCH_HOLE | NativeFile.FALLOC_FL_KEEP_SIZE;
    private static final int MODE_ZERO = NativeFile.FALLOC_FL_ZERO_RANGE | NativeFile.FALLOC_FL_KEEP_SIZE;

    private final VhdxImage image;
    private final VhdxMetadata meta;
    private final IoUring ring;
    private final Arena arena = Arena.ofShared();
    private final ArrayDeque<IoVecArray> pool = new ArrayDeque<>();

    VhdxAsync(VhdxImage image, IoUring ring) {
        this.image = image;
        this.meta = image.metadata();
        this.ring = ring;
    }

    /** One guest request: completes once every piece has, with the first error if any. */
    private final class Request {
        final IoCompletion done;
        final long tag;
        final String what;
        final long offset;
        int pending = 1; // the submitting call holds one count until it has issued every piece
        int error;

        Request(IoCompletion done, long tag, String what, long offset) {
            this.done = done;
            this.tag = tag;
            this.what = what;
            this.offset = offset;
        }

        void fail(int errno, Throwable cause) {
            if (error == 0) {
                error = errno;
                LOG.warn("{}: {} at guest offset {} failed: {}", meta.path(), what, offset,
                        cause != null ? cause.toString() : Errno.name(errno));
            }
        }

        void finishOne() {
            if (--pending == 0) {
                done.complete(tag, error == 0 ? 0 : -Math.abs(error));
            }
        }
    }

    /** Work to run on the queue thread after a piece's data operation succeeded. */
    @FunctionalInterface
    private interface After {
        void run() throws IOException;
    }

    /** One io_uring operation of a request. */
    private final class Piece implements IoCompletion {
        final Request request;
        final IoVecArray iov;
        final long expected;
        final After after;

        Piece(Request request, IoVecArray iov, long expected, After after) {
            this.request = request;
            this.iov = iov;
            this.expected = expected;
            this.after = after;
        }

        @Override
        public void complete(long tag, int result) {
            if (iov != null) {
                pool.push(iov);
            }
            if (result < 0) {
                request.fail(-result, null);
            } else if (expected >= 0 && result != expected) {
                request.fail(Errno.EIO, new IOException("short transfer: " + result + " of " + expected + " bytes"));
            } else if (after != null) {
                try {
                    after.run();
                } catch (IOException | RuntimeException e) {
                    request.fail(Errno.EIO, e);
                }
            }
            request.finishOne();
        }
    }

    private IoVecArray slice(IoVecArray buffers, long at, long length) {
        IoVecArray iov = pool.poll();
        if (iov == null) {
            iov = new IoVecArray(arena, IoVecArray.IOV_MAX);
        }
        iov.setSlice(buffers, at, length);
        return iov;
    }

    private boolean badRange(long offset, long length) {
        int align = image.requestAlignment();
        return offset < 0 || length < 0 || offset % align != 0 || length % align != 0 || offset > image.size()
                || length > image.size() - offset;
    }

    @Override
    public void read(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        Request r = new Request(done, tag, "read of " + buffers.totalBytes() + " bytes", offset);
        long total = buffers.totalBytes();
        if (badRange(offset, total)) {
            r.fail(Errno.EIO, new IOException("range outside the image or misaligned"));
        } else {
            try {
                for (long pos = 0; pos < total; ) {
                    Mapping m = image.resolve(offset + pos, total - pos);
                    if (m.kind() == Mapping.Kind.DATA) {
                        IoVecArray iov = slice(buffers, pos, m.length());
                        r.pending++;
                        ring.readv(m.file().fd(), iov, m.hostOffset(), new Piece(r, iov, m.length(), null), 0);
                    } else {
                        buffers.fill(pos, m.length(), (byte) 0);
                    }
                    pos += m.length();
                }
            } catch (IOException | RuntimeException e) {
                r.fail(Errno.EIO, e);
            }
        }
        r.finishOne();
    }

    @Override
    public void write(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        Request r = new Request(done, tag, "write of " + buffers.totalBytes() + " bytes", offset);
        long total = buffers.totalBytes();
        if (image.readOnly() || badRange(offset, total)) {
            r.fail(image.readOnly() ? Errno.EROFS : Errno.EIO, new IOException(image.readOnly() ? "read-only image" : "bad range"));
        } else {
            try {
                meta.beginWrites();
                long bs = meta.blockSize();
                int ls = meta.logicalSectorSize();
                for (long pos = 0; pos < total; ) {
                    long guest = offset + pos;
                    long block = guest / bs;
                    long inBlock = guest % bs;
                    long len = Math.min(total - pos, bs - inBlock);
                    long raw = meta.payloadEntry(block);
                    if (!BatEntry.hasData(BatEntry.state(raw))) {
                        raw = meta.allocate(block);
                    }
                    After after = BatEntry.state(raw) == BatEntry.PARTIALLY_PRESENT
                            ? () -> meta.setSectorsPresent(block, inBlock / ls, len / ls, true) : null;
                    IoVecArray iov = slice(buffers, pos, len);
                    r.pending++;
                    ring.writev(image.dataFile().fd(), iov, BatEntry.fileOffset(raw) + inBlock, new Piece(r, iov, len, after), 0);
                    pos += len;
                }
            } catch (IOException | RuntimeException e) {
                r.fail(Errno.EIO, e);
            }
        }
        r.finishOne();
    }

    @Override
    public void flush(IoCompletion done, long tag) {
        Request r = new Request(done, tag, "flush", 0);
        if (!image.readOnly()) {
            try {
                r.pending++;
                ring.fsync(image.dataFile().fd(), false, new Piece(r, null, -1, null), 0);
            } catch (IOException | RuntimeException e) {
                r.pending--;
                r.fail(Errno.EIO, e);
            }
        }
        r.finishOne();
    }

    @Override
    public void discard(long offset, long length, IoCompletion done, long tag) {
        clear(offset, length, false, true, done, tag);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap, IoCompletion done, long tag) {
        clear(offset, length, true, mayUnmap, done, tag);
    }

    /**
     * Discard and write-zeroes. Whole blocks change state (ZERO; UNMAPPED for a discard; for a
     * differencing disk's discard NOT_PRESENT, so the parent shows through) and their space is
     * punched out; partial blocks are zeroed in the file or, in differencing disks, handed back to
     * the parent through the sector bitmap. Fixed disks keep every block and zero in place.
     */
    private void clear(long offset, long length, boolean zeroes, boolean mayUnmap, IoCompletion done, long tag) {
        Request r = new Request(done, tag, (zeroes ? "write-zeroes" : "discard") + " of " + length + " bytes", offset);
        if (image.readOnly() || badRange(offset, length)) {
            r.fail(image.readOnly() ? Errno.EROFS : Errno.EIO, new IOException(image.readOnly() ? "read-only image" : "bad range"));
            r.finishOne();
            return;
        }
        try {
            meta.beginWrites();
            long bs = meta.blockSize();
            int ls = meta.logicalSectorSize();
            boolean diff = meta.differencing();
            boolean fixed = meta.leaveBlocksAllocated();
            for (long pos = 0; pos < length; ) {
                long guest = offset + pos;
                long block = guest / bs;
                long inBlock = guest % bs;
                long len = Math.min(length - pos, bs - inBlock);
                boolean whole = inBlock == 0 && (len == bs || guest + len == image.size());
                long raw = meta.payloadEntry(block);
                int state = BatEntry.state(raw);
                long host = BatEntry.fileOffset(raw) + inBlock;
                if (fixed) {
                    if (BatEntry.hasData(state)) {
                        fallocate(r, MODE_ZERO, host, len, null);
                    }
                } else if (whole && (mayUnmap || !BatEntry.hasData(state))) {
                    meta.releaseBlock(block, zeroes ? BatEntry.ZERO : diff ? BatEntry.NOT_PRESENT : BatEntry.UNMAPPED);
                } else if (state == BatEntry.FULLY_PRESENT) {
                    if (diff && !zeroes) {
                        meta.setSectorsPresent(block, inBlock / ls, len / ls, false);
                    } else {
                        fallocate(r, mayUnmap ? MODE_PUNCH : MODE_ZERO, host, len, null);
                    }
                } else if (state == BatEntry.PARTIALLY_PRESENT) {
                    if (zeroes) {
                        fallocate(r, MODE_ZERO, host, len, () -> meta.setSectorsPresent(block, inBlock / ls, len / ls, true));
                    } else {
                        meta.setSectorsPresent(block, inBlock / ls, len / ls, false);
                    }
                } else if (zeroes && diff && state == BatEntry.NOT_PRESENT) {
                    long fresh = meta.allocate(block);
                    fallocate(r, MODE_ZERO, BatEntry.fileOffset(fresh) + inBlock, len,
                            BatEntry.state(fresh) == BatEntry.PARTIALLY_PRESENT
                                    ? () -> meta.setSectorsPresent(block, inBlock / ls, len / ls, true) : null);
                }
                // Other states without data already read as zeros (or, for discard, as allowed).
                pos += len;
            }
        } catch (IOException | RuntimeException e) {
            r.fail(Errno.EIO, e);
        }
        r.finishOne();
    }

    private void fallocate(Request r, int mode, long host, long len, After after) throws IOException {
        r.pending++;
        try {
            ring.fallocate(image.dataFile().fd(), mode, host, len, new Piece(r, null, -1, after), 0);
        } catch (IOException | RuntimeException e) {
            r.pending--;
            throw e;
        }
    }

    @Override
    public void close() {
        pool.clear();
        arena.close();
    }
}
