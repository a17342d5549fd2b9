package dev.vublk.block.storage.rbd;

import dev.vublk.block.storage.Storage;
import dev.vublk.block.storage.StorageQueue;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A storage's queue side on a real ring of its own, driven from one test thread: operations are
 * started with {@link #start} variants (each gets a tag, its result lands in {@link #results}),
 * and {@link #await} runs the ring until the ones asked for completed. Memory is the driver's.
 */
final class QueueDriver implements AutoCloseable {
    static final int PENDING = Integer.MIN_VALUE;

    final IoUring ring;
    final StorageQueue queue;
    final Arena arena = Arena.ofShared();
    final int[] results;
    private final IoCompletion done = this::completed;
    private int completed;

    QueueDriver(Storage storage, int maxOps) throws IOException {
        ring = new IoUring(64);
        try {
            queue = storage.queue(ring);
        } catch (IOException | RuntimeException e) {
            ring.close();
            throw e;
        }
        results = new int[maxOps];
        java.util.Arrays.fill(results, PENDING);
    }

    private void completed(long tag, int result) {
        if (results[(int) tag] != PENDING) {
            throw new AssertionError("operation " + tag + " completed twice");
        }
        results[(int) tag] = result;
        completed++;
    }

    /** Guest memory holding {@code data}, as an iovec array of {@code pieces} uneven buffers. */
    IoVecArray buffers(byte[] data, int pieces) {
        MemorySegment seg = arena.allocate(Math.max(1, data.length));
        MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_BYTE, 0, data.length);
        IoVecArray iov = new IoVecArray(arena, pieces);
        long at = 0;
        for (int i = 1; i <= pieces; i++) {
            // Cuts 3 bytes before each even share: buffers of odd lengths and addresses.
            long end = i == pieces ? data.length : Math.max(at, (long) data.length * i / pieces - 3);
            iov.add(seg.address() + at, end - at);
            at = end;
        }
        return iov;
    }

    static byte[] bytes(IoVecArray iov) {
        byte[] out = new byte[(int) iov.totalBytes()];
        iov.copyTo(0, MemorySegment.ofArray(out), 0, out.length);
        return out;
    }

    /** Runs the ring until {@code count} operations in all have completed. */
    void await(int count) throws NativeException {
        while (completed < count) {
            if (ring.submitAndWait() == 0 && completed < count) {
                throw new AssertionError("ring idle with " + (count - completed) + " operations not completed");
            }
        }
    }

    /** Starts one operation and waits for it; returns its result. */
    int run(java.util.function.LongConsumer start) throws NativeException {
        int tag = completed;
        start.accept(tag);
        await(tag + 1);
        return results[tag];
    }

    int readv(long offset, IoVecArray iov) throws NativeException {
        return run(t -> queue.readv(offset, iov, done, t));
    }

    int writev(long offset, IoVecArray iov) throws NativeException {
        return run(t -> queue.writev(offset, iov, done, t));
    }

    int flush() throws NativeException {
        return run(t -> queue.flush(done, t));
    }

    int zero(long offset, long length, boolean release) throws NativeException {
        return run(t -> queue.zero(offset, length, release, done, t));
    }

    IoCompletion done() {
        return done;
    }

    /** Reads {@code length} bytes at {@code offset} through 3 iovecs; fails unless all were read. */
    byte[] read(long offset, int length) throws NativeException {
        IoVecArray iov = buffers(new byte[length], 3);
        int r = readv(offset, iov);
        if (r != length) {
            throw new AssertionError("read of " + length + " at " + offset + ": " + r);
        }
        return bytes(iov);
    }

    /** Stops the queue, drains the ring, closes the side and the ring. */
    @Override
    public void close() throws NativeException {
        queue.stop();
        ring.drain();
        queue.close();
        ring.close();
        arena.close();
    }
}
