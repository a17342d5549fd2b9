package dev.vublk.block.engine;

import dev.vublk.block.Mapping;
import dev.vublk.block.storage.Storage;
import dev.vublk.block.storage.StorageQueue;
import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoVecArray;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.ArrayDeque;

/**
 * The one transfer path of a queue: a READV or WRITEV of a slice of a request's buffers at a
 * storage offset, straight from or into guest memory, or through a bounce buffer when the storage
 * cannot take that memory (O_DIRECT alignment) or the format must inspect the data first. A read
 * that comes up short (past the end of a file) is padded with zeros; a short write is an error.
 * A write with a token reports to {@link Mapping#written} exactly once, whatever happens, before
 * its target completes. Operations are pooled: no allocation per transfer.
 */
final class Transfers {
    private final StorageQueues storages;
    private final Mapping mapping;
    private final Arena arena;
    private final BounceBuffers bounces;
    private final ArrayDeque<Transfer> pool = new ArrayDeque<>();

    Transfers(StorageQueues storages, Mapping mapping, BounceBuffers bounces, Arena arena) {
        this.storages = storages;
        this.mapping = mapping;
        this.bounces = bounces;
        this.arena = arena;
    }

    /** Reads {@code length} bytes at {@code host} into the buffers from {@code at} on. */
    void read(Storage s, long host, IoVecArray buffers, long at, long length, IoCompletion target) {
        take().start(false, s, host, buffers, at, length, -1, 0, false, target);
    }

    /**
     * Writes {@code length} bytes of the buffers from {@code at} on to {@code host}.
     *
     * @param token   for {@link Mapping#written} (-1: none), with {@code guest}, the guest offset written
     * @param inspect copy the data out first and let {@link Mapping#admits} check the copy
     */
    void write(Storage s, long host, IoVecArray buffers, long at, long length, long token, long guest, boolean inspect,
               IoCompletion target) {
        take().start(true, s, host, buffers, at, length, token, guest, inspect, target);
    }

    private Transfer take() {
        return pool.isEmpty() ? new Transfer() : pool.pop();
    }

    private final class Transfer implements IoCompletion, BounceBuffers.Borrower {
        private final IoVecArray iov = new IoVecArray(arena, IoVecArray.IOV_MAX);
        private final IoVecArray bounceIov = new IoVecArray(arena, 1);
        private BounceBuffers.Buffer bounce;
        private StorageQueue queue;
        private boolean write;
        private boolean inspect;
        private long host;
        private IoVecArray buffers;
        private long at;
        private long length;
        /** Bytes the storage sees: a bounced read is rounded up to the alignment (the tail is dropped). */
        private long ioLength;
        private long token;
        private long guest;
        private IoCompletion target;

        void start(boolean write, Storage s, long host, IoVecArray buffers, long at, long length, long token, long guest,
                   boolean inspect, IoCompletion target) {
            this.write = write;
            this.host = host;
            this.buffers = buffers;
            this.at = at;
            this.length = length;
            this.token = token;
            this.guest = guest;
            this.inspect = inspect;
            this.target = target;
            try {
                queue = storages.of(s);
                int alignment = s.alignment();
                ioLength = length;
                if (inspect || (alignment > 1 && !buffers.aligned(at, length, alignment))) {
                    if (!write) {
                        ioLength = (length + alignment - 1) / alignment * alignment;
                    }
                    if (!bounces.borrow(this)) {
                        finish(-Errno.ENOMEM); // larger than the queue's whole bounce budget: this request fails alone
                    }
                    return;
                }
                iov.setSlice(buffers, at, length);
                submit(iov);
            } catch (IOException | RuntimeException e) {
                finish(QueueEngine.errno(e));
            }
        }

        @Override
        public long bounceBytes() {
            return ioLength;
        }

        @Override
        public void lend(BounceBuffers.Buffer b) {
            bounce = b;
            try {
                bounceIov.clear();
                bounceIov.add(b.segment().address(), ioLength);
                if (write) {
                    buffers.copyTo(at, b.segment(), 0, length);
                    if (inspect && !mapping.admits(guest, b.segment().asSlice(0, length))) {
                        finish(-Errno.EIO);
                        return;
                    }
                }
                submit(bounceIov);
            } catch (RuntimeException e) {
                finish(QueueEngine.errno(e));
            } catch (Error e) {
                dropBounce();
                throw e;
            }
        }

        private void submit(IoVecArray use) {
            if (write) {
                queue.writev(host, use, this, 0);
            } else {
                queue.readv(host, use, this, 0);
            }
        }

        @Override
        public void complete(long ignored, int res) {
            int result = Math.min(res, 0);
            try {
                if (!write && res >= 0) {
                    long got = Math.min(res, length);
                    if (bounce != null && got > 0) {
                        buffers.copyFrom(bounce.segment(), 0, at, got);
                    }
                    if (got < length) {
                        buffers.zero(at + got, length - got); // past the end of the file reads as zeros
                    }
                } else if (write && res >= 0 && res < length) {
                    result = -Errno.EIO;
                }
            } catch (RuntimeException e) {
                result = QueueEngine.errno(e);
            } catch (Error e) {
                dropBounce(); // guest memory faulted: the queue fails, but the buffer's transfer is over
                throw e;
            }
            finish(result);
        }

        private void dropBounce() {
            if (bounce != null) {
                bounces.give(bounce);
                bounce = null;
            }
        }

        /** Every path ends here once: the bounce buffer goes back, the format hears of the write, the target completes. */
        private void finish(int result) {
            BounceBuffers.Buffer b = bounce;
            bounce = null;
            if (token != -1) {
                try {
                    mapping.written(token, guest, length, result >= 0);
                } catch (IOException | RuntimeException e) {
                    if (result >= 0) {
                        result = QueueEngine.errno(e);
                    }
                }
            }
            IoCompletion t = target;
            target = null;
            buffers = null;
            queue = null;
            pool.push(this);
            if (b != null) {
                bounces.give(b); // may start a waiting transfer; this one is back in the pool already
            }
            t.complete(0, result);
        }
    }
}
