package dev.vublk.block.storage.nbd;

import dev.vublk.block.storage.StorageQueue;
import dev.vublk.block.storage.Volume;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * One {@link StorageQueue} of a volume on its own ring, driven from a test: each call submits an
 * operation and runs the ring until it completes, returning its result as it is. {@link #start}
 * and {@link #await} let a test keep many operations in flight.
 */
final class QueueDriver implements AutoCloseable {
    final IoUring ring;
    final StorageQueue queue;
    final Arena arena = Arena.ofShared();
    private final int[] results = new int[1024];
    private final boolean[] done = new boolean[1024];
    private final MemorySegment tick = arena.allocate(16, 8);
    private boolean ticking;

    QueueDriver(Volume volume) throws IOException {
        ring = new IoUring(64);
        queue = volume.queue(ring);
    }

    MemorySegment buffer(int length) {
        return arena.allocate(Math.max(1, length), 4096).asSlice(0, length);
    }

    private void complete(long tag, int res) {
        if (done[(int) tag]) {
            throw new AssertionError("operation " + tag + " completed twice");
        }
        done[(int) tag] = true;
        results[(int) tag] = res;
    }

    /** Runs the ring until operation {@code tag} completed; returns its result. */
    int await(int tag) throws NativeException {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (!done[tag]) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("operation " + tag + " did not complete");
            }
            if (!ticking) {
                // A tick on the ring, so that a request that never completes fails here rather than hangs.
                ticking = true;
                ring.timeout(tick, 200_000_000L, (t, res) -> ticking = false, 0);
            }
            ring.submitAndWait();
        }
        done[tag] = false;
        return results[tag];
    }

    boolean isDone(int tag) {
        return done[tag];
    }

    void startWritev(int tag, long offset, IoVecArray iov) {
        queue.writev(offset, iov, this::complete, tag);
    }

    void startReadv(int tag, long offset, IoVecArray iov) {
        queue.readv(offset, iov, this::complete, tag);
    }

    void startFlush(int tag) {
        queue.flush(this::complete, tag);
    }

    int write(long offset, byte[] data) throws NativeException {
        MemorySegment seg = buffer(data.length);
        MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_BYTE, 0, data.length);
        queue.write(offset, seg.address(), data.length, this::complete, 0);
        return await(0);
    }

    /** Reads {@code length} bytes into a buffer pre-filled with 0x5a (so unread bytes show); null if it failed. */
    byte[] read(long offset, int length) throws NativeException {
        int r = tryRead(offset, length, new byte[length]);
        return r == length ? last : null;
    }

    private byte[] last;

    int tryRead(long offset, int length, byte[] out) throws NativeException {
        MemorySegment seg = buffer(length);
        seg.fill((byte) 0x5a);
        queue.read(offset, seg.address(), length, this::complete, 0);
        int r = await(0);
        MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, 0, out, 0, length);
        last = out;
        return r;
    }

    int zero(long offset, long length, boolean release) throws NativeException {
        queue.zero(offset, length, release, this::complete, 0);
        return await(0);
    }

    int flush() throws NativeException {
        queue.flush(this::complete, 0);
        return await(0);
    }

    /** Stops the queue, drains its ring, closes it: what a stopping worker does. */
    @Override
    public void close() throws NativeException {
        queue.stop();
        ring.drain();
        queue.close();
        ring.close();
        arena.close();
    }

    static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        new java.util.Random(seed).nextBytes(b);
        return b;
    }

    static byte[] zeros(int length) {
        return new byte[length];
    }

    static boolean allZero(byte[] b) {
        return Arrays.equals(b, new byte[b.length]);
    }
}
