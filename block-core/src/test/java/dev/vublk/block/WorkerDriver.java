package dev.vublk.block;

import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Drives a {@link BlockWorker} from a test on a real {@link IoUring}, one request at a time: each
 * call submits the request and runs the ring until it completes. The plain methods fail with an
 * {@link IOException} naming the request when it completes with a negative errno, so a test that
 * ignores the result still fails on an error; the {@code try} methods return the completion's
 * result as it is, for tests that expect an error. Buffers are page-aligned (so O_DIRECT opens
 * take the direct path) and split into several iovecs to exercise vectored paths; tests that need
 * another layout (misaligned, odd lengths) pass their own memory or iovecs.
 */
public final class WorkerDriver implements AutoCloseable {
    private static final int PIECES = 3;

    private final IoUring ring;
    private final BlockWorker worker;
    private final Arena arena = Arena.ofConfined();
    /** One completion for every request: with the caller's iovecs, a request allocates nothing here. */
    private final IoCompletion completion = this::completed;
    private int result;
    private boolean done;

    public WorkerDriver(BlockImage image) throws IOException {
        this.ring = new IoUring(64);
        this.worker = image.newWorker(ring);
    }

    public IoUring ring() { return ring; }

    public BlockWorker worker() { return worker; }

    /** Native memory owned by the driver, freed on close: for tests building their own buffers. */
    public Arena arena() { return arena; }

    private IoVecArray buffers(MemorySegment seg) {
        IoVecArray iov = new IoVecArray(arena, PIECES);
        long len = seg.byteSize();
        long piece = Math.max(512, (len / PIECES + 511) & ~511L);
        for (long at = 0; at < len; at += piece) {
            iov.add(seg.address() + at, Math.min(piece, len - at));
        }
        return iov;
    }

    private int await() throws IOException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!done) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("request did not complete");
            }
            ring.submitAndWait();
        }
        done = false;
        return result;
    }

    private void completed(long tag, int res) {
        if (done) {
            throw new AssertionError("request completed twice");
        }
        result = res;
        done = true;
    }

    private static int ok(int res, String what, long offset) throws IOException {
        if (res < 0) {
            throw new IOException(what + " at " + offset + " failed: " + res);
        }
        return res;
    }

    private MemorySegment copyOf(byte[] data) {
        MemorySegment seg = arena.allocate(Math.max(1, data.length), 4096).asSlice(0, data.length);
        MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_BYTE, 0, data.length);
        return seg;
    }

    // ---- results as they are ------------------------------------------------------------------

    public int tryReadInto(long offset, MemorySegment seg) throws IOException {
        return tryReadv(offset, buffers(seg));
    }

    public int tryReadv(long offset, IoVecArray iov) throws IOException {
        worker.read(offset, iov, completion, 1);
        return await();
    }

    public int tryWrite(long offset, byte[] data) throws IOException {
        return tryWriteFrom(offset, copyOf(data));
    }

    /** Writes the bytes of {@code seg} (the caller's memory, e.g. deliberately misaligned). */
    public int tryWriteFrom(long offset, MemorySegment seg) throws IOException {
        return tryWritev(offset, buffers(seg));
    }

    /** Writes from iovecs the caller laid out (e.g. a magic number split across entries). */
    public int tryWritev(long offset, IoVecArray iov) throws IOException {
        worker.write(offset, iov, completion, 2);
        return await();
    }

    public int tryFlush() throws IOException {
        worker.flush(completion, 3);
        return await();
    }

    public int tryDiscard(long offset, long length) throws IOException {
        worker.discard(offset, length, completion, 4);
        return await();
    }

    public int tryWriteZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        worker.writeZeroes(offset, length, mayUnmap, completion, 5);
        return await();
    }

    // ---- failing on a negative result ---------------------------------------------------------

    /** Reads {@code length} bytes (the buffer pre-filled with 0x5a, so unread bytes show). */
    public byte[] read(long offset, int length) throws IOException {
        MemorySegment seg = arena.allocate(Math.max(1, length), 4096).asSlice(0, length);
        seg.fill((byte) 0x5a);
        readInto(offset, seg);
        return seg.toArray(ValueLayout.JAVA_BYTE);
    }

    public int readInto(long offset, MemorySegment seg) throws IOException {
        return ok(tryReadInto(offset, seg), "read", offset);
    }

    public int readv(long offset, IoVecArray iov) throws IOException {
        return ok(tryReadv(offset, iov), "read", offset);
    }

    public int write(long offset, byte[] data) throws IOException {
        return ok(tryWrite(offset, data), "write", offset);
    }

    public int writeFrom(long offset, MemorySegment seg) throws IOException {
        return ok(tryWriteFrom(offset, seg), "write", offset);
    }

    public int writev(long offset, IoVecArray iov) throws IOException {
        return ok(tryWritev(offset, iov), "write", offset);
    }

    public int flush() throws IOException {
        return ok(tryFlush(), "flush", 0);
    }

    public int discard(long offset, long length) throws IOException {
        return ok(tryDiscard(offset, length), "discard", offset);
    }

    public int writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        return ok(tryWriteZeroes(offset, length, mayUnmap), "write-zeroes", offset);
    }

    @Override
    public void close() throws IOException {
        worker.stop(); // a store's standing ring operations (a socket receive, an eventfd read) end, so the ring drains
        ring.drain();
        worker.close();
        ring.close();
        arena.close();
    }
}
