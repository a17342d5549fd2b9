package dev.vublk.block.raw;

import dev.vublk.block.BlockWorker;
import dev.vublk.block.BounceBuffers;
import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import java.util.ArrayDeque;

/**
 * RAW I/O for one queue: each request is one io_uring operation on the image file, straight
 * into guest memory. Only with O_DIRECT and a guest buffer that is not block-aligned does data
 * pass through a bounce buffer, because the kernel would refuse the transfer.
 */
final class RawWorker implements BlockWorker {
    private final NativeFile file;
    private final IoUring ring;
    private final long size;
    /** Null unless the format was probed; see {@link FirstSectorGuard}. */
    private final FirstSectorGuard guard;
    private final ArrayDeque<BouncedTransfer> bouncePool = new ArrayDeque<>();
    private final ArrayDeque<ZeroRange> zeroPool = new ArrayDeque<>();
    private final BounceBuffers bounce = new BounceBuffers();

    RawWorker(NativeFile file, IoUring ring, long size, FirstSectorGuard guard) {
        this.file = file;
        this.ring = ring;
        this.size = size;
        this.guard = guard;
    }

    private boolean inRange(long offset, long length) {
        return offset >= 0 && length >= 0 && offset <= size && length <= size - offset;
    }

    @Override
    public void read(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        transfer(false, offset, buffers, done, tag);
    }

    @Override
    public void write(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        if (!file.writable()) {
            done.complete(tag, -Errno.EROFS);
            return;
        }
        transfer(true, offset, buffers, done, tag);
    }

    private void transfer(boolean write, long offset, IoVecArray buffers, IoCompletion done, long tag) {
        if (!inRange(offset, buffers.totalBytes())) {
            done.complete(tag, -Errno.EIO);
            return;
        }
        try {
            // A guarded write to the first sector goes through a private copy, which is checked.
            boolean checked = write && guard != null && offset < FirstSectorGuard.GUARDED_BYTES;
            if (checked || (file.direct() && !aligned(buffers))) {
                BounceBuffers.Buffer buffer = bounce.take(buffers.totalBytes());
                if (buffer == null) {
                    done.complete(tag, -Errno.ENOMEM); // over the queue's bounce budget: the request fails alone
                    return;
                }
                BouncedTransfer b = bouncePool.isEmpty() ? new BouncedTransfer() : bouncePool.pop();
                b.start(write, offset, buffer, buffers, done, tag);
            } else if (write) {
                ring.writev(file.fd(), buffers, offset, done, tag);
            } else {
                ring.readv(file.fd(), buffers, offset, done, tag);
            }
        } catch (NativeException e) {
            done.complete(tag, -Math.max(1, e.errno()));
        }
    }

    private static boolean aligned(IoVecArray buffers) {
        long mask = RawImage.DIRECT_ALIGNMENT - 1;
        for (int i = 0; i < buffers.count(); i++) {
            if ((buffers.address(i) & mask) != 0 || (buffers.length(i) & mask) != 0) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void flush(IoCompletion done, long tag) {
        try {
            ring.fsync(file.fd(), true, done, tag);
        } catch (NativeException e) {
            done.complete(tag, -Math.max(1, e.errno()));
        }
    }

    @Override
    public void discard(long offset, long length, IoCompletion done, long tag) {
        zero(offset, length, true, done, tag);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap, IoCompletion done, long tag) {
        zero(offset, length, mayUnmap, done, tag);
    }

    private void zero(long offset, long length, boolean unmap, IoCompletion done, long tag) {
        if (!file.writable()) {
            done.complete(tag, -Errno.EROFS);
            return;
        }
        if (!inRange(offset, length)) {
            done.complete(tag, -Errno.EIO);
            return;
        }
        ZeroRange z = zeroPool.isEmpty() ? new ZeroRange() : zeroPool.pop();
        z.start(offset, length, unmap, done, tag);
    }

    /**
     * Zeroes with ZERO_RANGE, or frees with PUNCH_HOLE; a file system without ZERO_RANGE
     * (tmpfs) gets a hole instead, which reads back as zeros just the same.
     */
    private final class ZeroRange implements IoCompletion {
        private long offset, length;
        private boolean punched;
        private IoCompletion done;
        private long tag;

        void start(long offset, long length, boolean unmap, IoCompletion done, long tag) {
            this.offset = offset;
            this.length = length;
            this.done = done;
            this.tag = tag;
            this.punched = unmap;
            submit(unmap ? NativeFile.FALLOC_FL_PUNCH_HOLE | NativeFile.FALLOC_FL_KEEP_SIZE
                    : NativeFile.FALLOC_FL_ZERO_RANGE | NativeFile.FALLOC_FL_KEEP_SIZE);
        }

        private void submit(int mode) {
            try {
                ring.fallocate(file.fd(), mode, offset, length, this, 0);
            } catch (NativeException e) {
                complete(0, -Math.max(1, e.errno()));
            }
        }

        @Override
        public void complete(long ignored, int result) {
            if (result == -Errno.ENOTSUP && !punched) {
                punched = true;
                submit(NativeFile.FALLOC_FL_PUNCH_HOLE | NativeFile.FALLOC_FL_KEEP_SIZE);
                return;
            }
            IoCompletion d = done;
            long t = tag;
            done = null;
            zeroPool.push(this);
            d.complete(t, result);
        }
    }

    /** Frees the bounce buffers; called after the ring has drained. */
    @Override
    public void close() {
        bounce.close();
    }

    /** An O_DIRECT transfer through an aligned buffer lent by {@link #bounce}. */
    private final class BouncedTransfer implements IoCompletion {
        private final IoVecArray single = new IoVecArray(1);
        private BounceBuffers.Buffer buffer;
        private boolean write;
        private IoVecArray guest;
        private IoCompletion done;
        private long tag;

        void start(boolean write, long offset, BounceBuffers.Buffer buffer, IoVecArray guest, IoCompletion done, long tag)
                throws NativeException {
            long length = guest.totalBytes();
            this.buffer = buffer;
            this.write = write;
            this.guest = guest;
            this.done = done;
            this.tag = tag;
            single.clear();
            single.add(buffer.segment().address(), length);
            try {
                if (write) {
                    guest.copyTo(0, buffer.segment(), 0, length);
                    if (guard != null && guard.refuses(offset, buffer.segment().asSlice(0, length))) {
                        complete(0, -Errno.EIO);
                        return;
                    }
                    ring.writev(file.fd(), single, offset, this, 0);
                } else {
                    ring.readv(file.fd(), single, offset, this, 0);
                }
            } catch (NativeException e) {
                release();
                throw e;
            }
        }

        @Override
        public void complete(long ignored, int result) {
            IoCompletion d = done;
            long t = tag;
            try {
                if (!write && result > 0) {
                    guest.copyFrom(buffer.segment(), 0, 0, result);
                }
            } finally {
                release(); // even when guest memory faults: the buffer's transfer is over
            }
            d.complete(t, result);
        }

        private void release() {
            bounce.give(buffer);
            buffer = null;
            done = null;
            guest = null;
            bouncePool.push(this);
        }
    }
}
