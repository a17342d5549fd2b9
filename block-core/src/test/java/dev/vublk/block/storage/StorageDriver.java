package dev.vublk.block.storage;

import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import java.util.function.IntConsumer;

/**
 * One {@link StorageQueue} of a storage on a real ring of its own, driven from one test thread.
 * Every operation gets a tag of its own from the driver: the {@code start} methods return it,
 * {@link #await} runs the ring until that operation completed and {@link #result} shows it
 * without waiting, so a test can keep many operations in flight. The other calls start one
 * operation and wait for it. Results are returned as the queue gave them (a byte count, 0 or a
 * negative errno) for the test to assert; only {@link #read} fails by itself, as it returns the
 * bytes. Memory is the driver's, freed on {@link #close}.
 */
public final class StorageDriver implements AutoCloseable {
    /** The result of an operation that has not completed yet. */
    public static final int PENDING = Integer.MIN_VALUE;
    /** How long {@link #await} waits for one operation before it fails the test. */
    private static final long BOUND_NANOS = 60_000_000_000L;
    private static final long TICK_NANOS = 200_000_000L;

    private final IoUring ring;
    private final StorageQueue queue;
    private final Arena arena = Arena.ofShared();
    private final IoCompletion completion = this::completed;
    private final MemorySegment tick = arena.allocate(16, 8);
    private boolean ticking;
    private int[] results = new int[64];
    private int started;

    public StorageDriver(Storage storage) throws IOException {
        ring = new IoUring(64);
        try {
            queue = storage.queue(ring);
        } catch (IOException | RuntimeException e) {
            ring.close();
            arena.close();
            throw e;
        }
        Arrays.fill(results, PENDING);
    }

    public IoUring ring() { return ring; }

    public StorageQueue queue() { return queue; }

    /** The driver's native memory, for tests that lay out iovecs of their own. */
    public Arena arena() { return arena; }

    // ---- memory -------------------------------------------------------------------------------

    /** {@code length} bytes of page-aligned native memory. */
    public MemorySegment buffer(int length) {
        return arena.allocate(Math.max(1, length), 4096).asSlice(0, length);
    }

    /** A page-aligned native copy of {@code data}. */
    public MemorySegment copyOf(byte[] data) {
        MemorySegment seg = buffer(data.length);
        MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_BYTE, 0, data.length);
        return seg;
    }

    /** A native copy of {@code data} as an iovec array of {@code pieces} uneven buffers. */
    public IoVecArray buffers(byte[] data, int pieces) {
        long address = copyOf(data).address();
        IoVecArray iov = new IoVecArray(arena, pieces);
        long at = 0;
        for (int i = 1; i <= pieces; i++) {
            // Cuts 3 bytes before each even share: buffers of odd lengths and addresses.
            long end = i == pieces ? data.length : Math.max(at, (long) data.length * i / pieces - 3);
            iov.add(address + at, end - at);
            at = end;
        }
        return iov;
    }

    /** The bytes {@code iov}'s buffers hold. */
    public static byte[] bytes(IoVecArray iov) {
        byte[] out = new byte[(int) iov.totalBytes()];
        iov.copyTo(0, MemorySegment.ofArray(out), 0, out.length);
        return out;
    }

    /** {@code length} pseudo-random bytes, the same for the same {@code seed}. */
    public static byte[] pattern(int length, long seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    // ---- many in flight -----------------------------------------------------------------------

    private int start(IntConsumer operation) {
        int tag = started++;
        if (tag == results.length) {
            results = Arrays.copyOf(results, 2 * tag);
            Arrays.fill(results, tag, results.length, PENDING);
        }
        operation.accept(tag);
        return tag;
    }

    private void completed(long tag, int result) {
        if (results[(int) tag] != PENDING) {
            throw new AssertionError("operation " + tag + " completed twice: " + results[(int) tag] + ", then " + result);
        }
        results[(int) tag] = result;
    }

    public int startReadv(long offset, IoVecArray iov) {
        return start(tag -> queue.readv(offset, iov, completion, tag));
    }

    public int startWritev(long offset, IoVecArray iov) {
        return start(tag -> queue.writev(offset, iov, completion, tag));
    }

    public int startFlush() {
        return start(tag -> queue.flush(completion, tag));
    }

    /** The result of operation {@code tag}, or {@link #PENDING} while it has not completed. */
    public int result(int tag) {
        if (tag < 0 || tag >= started) {
            throw new AssertionError("no operation " + tag + " was started (" + started + " were)");
        }
        return results[tag];
    }

    /**
     * Runs the ring once: submits what is queued and waits for a completion. A timeout on the
     * ring (the tick) ends the wait within 200 ms even when nothing else completes, so a test
     * waiting for a lost operation fails at its bound instead of hanging.
     */
    public void turn() throws NativeException {
        if (!ticking) {
            ticking = true;
            ring.timeout(tick, TICK_NANOS, (t, res) -> ticking = false, 0);
        }
        ring.submitAndWait();
    }

    /** Runs the ring until operation {@code tag} completed, 60 s at most; returns its result. */
    public int await(int tag) throws NativeException {
        long deadline = System.nanoTime() + BOUND_NANOS;
        while (result(tag) == PENDING) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("operation " + tag + " did not complete within 60 s");
            }
            turn();
        }
        return results[tag];
    }

    // ---- one at a time ------------------------------------------------------------------------

    public int readv(long offset, IoVecArray iov) throws NativeException {
        return await(startReadv(offset, iov));
    }

    public int writev(long offset, IoVecArray iov) throws NativeException {
        return await(startWritev(offset, iov));
    }

    /** Writes {@code data} from one plain buffer ({@link StorageQueue#write}). */
    public int write(long offset, byte[] data) throws NativeException {
        long address = copyOf(data).address();
        return await(start(tag -> queue.write(offset, address, data.length, completion, tag)));
    }

    /** Reads {@code length} bytes into one plain buffer ({@link StorageQueue#read}); returns the result. */
    public int tryRead(long offset, int length) throws NativeException {
        return read(offset, buffer(length));
    }

    /**
     * Reads {@code length} bytes into one plain buffer pre-filled with 0x5a (so unread bytes
     * show); fails unless all of them were read.
     */
    public byte[] read(long offset, int length) throws NativeException {
        MemorySegment seg = buffer(length);
        seg.fill((byte) 0x5a);
        int r = read(offset, seg);
        if (r != length) {
            throw new AssertionError("read of " + length + " bytes at " + offset + ": " + r);
        }
        return seg.toArray(ValueLayout.JAVA_BYTE);
    }

    private int read(long offset, MemorySegment seg) throws NativeException {
        return await(start(tag -> queue.read(offset, seg.address(), (int) seg.byteSize(), completion, tag)));
    }

    public int zero(long offset, long length, boolean release) throws NativeException {
        return await(start(tag -> queue.zero(offset, length, release, completion, tag)));
    }

    public int flush() throws NativeException {
        return await(startFlush());
    }

    // ---- the end ------------------------------------------------------------------------------

    /** Stops the queue and waits for its ring to drain: what a stopping worker does before it closes. */
    public void stopAndDrain() throws NativeException {
        queue.stop();
        ring.drain();
    }

    /** Stops the queue, drains its ring, closes the queue side, the ring and the memory. */
    @Override
    public void close() throws NativeException {
        stopAndDrain();
        queue.close();
        ring.close();
        arena.close();
    }
}
