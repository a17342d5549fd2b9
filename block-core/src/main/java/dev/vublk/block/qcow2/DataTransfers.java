package dev.vublk.block.qcow2;

import dev.vublk.block.BounceBuffers;
import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeException;
import java.lang.foreign.Arena;
import java.util.ArrayDeque;

/**
 * READV and WRITEV of host-contiguous runs in the data file, for one queue: pooled operations,
 * each with its own iovec array, straight from or into the guest buffers, or through the
 * operation's bounce buffer when O_DIRECT cannot take them. A transfer completes its target with
 * 0 or a negative errno: a short read is padded with zeros (past the end of the file), a short
 * write is an error. An in-place write's {@link InflightWrites} slot is released on completion.
 */
final class DataTransfers {
    private final IoUring ring;
    private final int fd;
    /** O_DIRECT alignment; 0 when the descriptor is buffered. */
    private final int directAlignment;
    private final InflightWrites inflight;
    private final Arena arena;
    private final ArrayDeque<Transfer> pool = new ArrayDeque<>();
    private final BounceBuffers bounces = new BounceBuffers();

    DataTransfers(IoUring ring, int fd, int directAlignment, InflightWrites inflight, Arena arena) {
        this.ring = ring;
        this.fd = fd;
        this.directAlignment = directAlignment;
        this.inflight = inflight;
        this.arena = arena;
    }

    /**
     * Transfers guest buffer bytes {@code [at, at + length)} to or from {@code host}; the
     * target's {@code complete} may run before this returns (if the ring refuses the operation).
     */
    void start(boolean write, long host, IoVecArray buffers, long at, long length, int slot, IoCompletion target) {
        Transfer t = pool.isEmpty() ? new Transfer() : pool.pop();
        t.start(write, host, buffers, at, length, slot, target);
    }

    private boolean needsBounce(IoVecArray iov) {
        if (directAlignment == 0) {
            return false;
        }
        long mask = directAlignment - 1;
        for (int i = 0; i < iov.count(); i++) {
            if ((iov.address(i) & mask) != 0 || (iov.length(i) & mask) != 0) {
                return true;
            }
        }
        return false;
    }

    private final class Transfer implements IoCompletion {
        private final IoVecArray iov = new IoVecArray(arena, IoVecArray.IOV_MAX);
        private final IoVecArray bounceIov = new IoVecArray(arena, 1);
        private BounceBuffers.Buffer bounce;
        private boolean write;
        private boolean bounced;
        private IoVecArray buffers;
        private long at;
        private long length;
        private int slot;
        private IoCompletion target;

        void start(boolean write, long host, IoVecArray buffers, long at, long length, int slot, IoCompletion target) {
            this.write = write;
            this.buffers = buffers;
            this.at = at;
            this.length = length;
            this.slot = slot;
            this.target = target;
            try {
                iov.setSlice(buffers, at, length);
                IoVecArray use = iov;
                bounced = needsBounce(iov);
                if (bounced) {
                    bounce = bounces.take(length);
                    if (bounce == null) {
                        complete(0, -Errno.ENOMEM); // over the queue's bounce budget: this request fails alone
                        return;
                    }
                    bounceIov.clear();
                    bounceIov.add(bounce.segment().address(), length);
                    if (write) {
                        buffers.copyTo(at, bounce.segment(), 0, length);
                    }
                    use = bounceIov;
                }
                if (write) {
                    ring.writev(fd, use, host, this, 0);
                } else {
                    ring.readv(fd, use, host, this, 0);
                }
            } catch (NativeException e) {
                complete(0, -Math.max(1, e.errno()));
            } catch (RuntimeException e) {
                complete(0, -Errno.EIO);
            }
        }

        @Override
        public void complete(long ignored, int res) {
            int result = Math.min(res, 0);
            try {
                if (!write && res >= 0) {
                    if (bounced && res > 0) {
                        buffers.copyFrom(bounce.segment(), 0, at, res);
                    }
                    if (res < length) {
                        buffers.fill(at + res, length - res, (byte) 0); // past the end of the file reads as zeros
                    }
                } else if (write && res >= 0 && res < length) {
                    result = -Errno.EIO;
                }
            } finally {
                if (bounce != null) {
                    bounces.give(bounce); // even when guest memory faults: the transfer is over
                    bounce = null;
                }
            }
            inflight.remove(slot);
            IoCompletion t = target;
            target = null;
            buffers = null;
            pool.push(this);
            t.complete(0, result);
        }
    }

    /** Frees the bounce buffers; the ring has drained. */
    void close() {
        bounces.close();
    }
}
