package dev.vublk.block.storage.rbd;

import dev.vublk.block.storage.StorageQueue;
import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.Librbd;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.RbdCompletions;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.Arrays;

/**
 * One queue thread's side of an {@link RbdVolume}: librbd's asynchronous calls, with guest
 * memory handed to librbd as it is (no copy). Each operation gets a librbd completion carrying
 * its slot number; librbd's callback posts the slot to this queue's {@link RbdCompletions},
 * whose eventfd read stands on the queue's ring, and the queue finishes the operations when that
 * read completes. Slots are reused, so steady state allocates nothing on the Java side.
 *
 * <p>Stopping: the standing read is the one ring operation that belongs to no request. Once
 * {@link #stop} was called and no operation is outstanding, the read is not armed again (or is
 * completed by writing the eventfd ourselves), so the ring drains; {@link #close} then closes the
 * eventfd, which no callback can write any more because none is outstanding.
 */
final class RbdQueue implements StorageQueue {
    private static final int READ = 0, WRITE = 1, OTHER = 2;

    private final String name;
    private final long image;
    private final IoUring ring;
    private final RbdCompletions completions;
    private final IoCompletion woken = (tag, result) -> woken(result);

    private Op[] ops = new Op[0];
    private int[] free = new int[0];
    private int freeCount;
    private int outstanding;
    private boolean armed;
    private boolean stopping;
    private boolean closed;

    /** What a started operation needs back when it finishes. */
    private static final class Op {
        IoCompletion done;
        long tag;
        long completion;
        int kind;
        long length;
        IoVecArray single; // for plain-buffer reads and writes, made on first use
    }

    RbdQueue(String name, long image, IoUring ring) throws IOException {
        this.name = name;
        this.image = image;
        this.ring = ring;
        this.completions = new RbdCompletions();
        try {
            arm();
        } catch (NativeException e) {
            completions.close();
            throw e;
        }
    }

    @Override
    public void readv(long offset, IoVecArray iov, IoCompletion done, long tag) {
        vectored(READ, offset, iov, done, tag);
    }

    @Override
    public void writev(long offset, IoVecArray iov, IoCompletion done, long tag) {
        vectored(WRITE, offset, iov, done, tag);
    }

    private void vectored(int kind, long offset, IoVecArray iov, IoCompletion done, long tag) {
        int slot = start(kind, iov.totalBytes(), done, tag);
        if (slot >= 0) {
            started(slot, Librbd.aioVectored(kind == WRITE, image, iov.nativeAddress(), iov.count(), offset,
                    ops[slot].completion));
        }
    }

    @Override
    public void read(long offset, long address, int length, IoCompletion done, long tag) {
        single(READ, offset, address, length, done, tag);
    }

    @Override
    public void write(long offset, long address, int length, IoCompletion done, long tag) {
        single(WRITE, offset, address, length, done, tag);
    }

    /** A plain buffer as a one-entry iovec array of the slot's own (librbd copies the array). */
    private void single(int kind, long offset, long address, int length, IoCompletion done, long tag) {
        int slot = start(kind, length, done, tag);
        if (slot >= 0) {
            Op op = ops[slot];
            if (op.single == null) {
                op.single = new IoVecArray(Arena.ofAuto(), 1);
            }
            IoVecArray iov = op.single;
            iov.clear();
            iov.add(address, length);
            started(slot, Librbd.aioVectored(kind == WRITE, image, iov.nativeAddress(), 1, offset, op.completion));
        }
    }

    @Override
    public void flush(IoCompletion done, long tag) {
        int slot = start(OTHER, 0, done, tag);
        if (slot >= 0) {
            started(slot, Librbd.aioFlush(image, ops[slot].completion));
        }
    }

    /**
     * With {@code release}, a discard (librbd frees whole objects, and zeros partial ones since
     * {@link RbdVolume} turns off skipping them); without, librbd's write-zeroes.
     */
    @Override
    public void zero(long offset, long length, boolean release, IoCompletion done, long tag) {
        int slot = start(OTHER, 0, done, tag);
        if (slot >= 0) {
            long c = ops[slot].completion;
            started(slot, release ? Librbd.aioDiscard(image, offset, length, c) : Librbd.aioWriteZeroes(image, offset, length, c));
        }
    }

    /** Takes a slot and makes its completion; -1 when that failed (then {@code done} has run). */
    private int start(int kind, long length, IoCompletion done, long tag) {
        if (stopping || closed) {
            done.complete(tag, -Errno.EIO);
            return -1;
        }
        if (freeCount == 0) {
            grow();
        }
        int slot = free[--freeCount];
        Op op = ops[slot];
        try {
            op.completion = completions.create(slot);
        } catch (NativeException e) {
            free[freeCount++] = slot;
            done.complete(tag, -Math.max(1, e.errno()));
            return -1;
        }
        op.done = done;
        op.tag = tag;
        op.kind = kind;
        op.length = length;
        return slot;
    }

    /** librbd took the operation (0: its callback will come) or refused it at once (no callback). */
    private void started(int slot, int r) {
        if (r >= 0) {
            outstanding++;
            return;
        }
        Op op = ops[slot];
        Librbd.release(op.completion);
        finish(slot, r);
    }

    private void grow() {
        int old = ops.length;
        int n = Math.max(16, old * 2);
        ops = Arrays.copyOf(ops, n);
        free = Arrays.copyOf(free, n);
        for (int i = old; i < n; i++) {
            ops[i] = new Op();
            free[freeCount++] = i;
        }
    }

    private void arm() throws NativeException {
        completions.arm(ring, woken);
        armed = true;
    }

    /** The standing eventfd read completed: finish what librbd finished, read again unless stopping. */
    private void woken(int result) {
        armed = false;
        int n = completions.take();
        for (int i = 0; i < n; i++) {
            int slot = completions.token(i);
            Op op = ops[slot];
            long r = Librbd.returnValue(op.completion);
            Librbd.release(op.completion);
            outstanding--;
            finish(slot, r);
        }
        if (result < 0 && outstanding == 0) {
            return; // the ring refused the read (it is closing): nothing left to wait for
        }
        if (!stopping || outstanding > 0) {
            try {
                arm();
            } catch (NativeException e) {
                throw new IllegalStateException(name + ": cannot read librbd's completions on the ring", e);
            }
        }
    }

    /** Frees the slot and reports: the byte count for reads (librbd's) and writes, 0 else, or the negative errno. */
    private void finish(int slot, long r) {
        Op op = ops[slot];
        IoCompletion done = op.done;
        long tag = op.tag;
        int result = r < 0 ? (r >= -4095 ? (int) r : -Errno.EIO) : switch (op.kind) {
            case READ -> (int) r;
            case WRITE -> (int) op.length;
            default -> 0;
        };
        op.done = null;
        free[freeCount++] = slot;
        done.complete(tag, result);
    }

    @Override
    public void stop() {
        stopping = true;
        if (armed && outstanding == 0) {
            try {
                completions.wake();
            } catch (NativeException e) {
                throw new IllegalStateException(name + ": cannot end the eventfd read", e);
            }
        }
    }

    /**
     * Closes the eventfd and its memory. With an operation still outstanding (which a drained
     * ring rules out) the channel stays open: a late callback then writes a live eventfd rather
     * than a descriptor number that may name another file by then.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (outstanding == 0) {
            completions.close();
        }
    }
}
