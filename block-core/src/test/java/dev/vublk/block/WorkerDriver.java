package dev.vublk.block;

import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Drives a {@link BlockWorker} from a test on a real {@link IoUring}: each call submits one
 * request with native buffers and runs the ring until it completes, returning its result.
 * Buffers are split into several iovecs to exercise vectored paths.
 */
public final class WorkerDriver implements AutoCloseable {
    private final IoUring ring;
    private final BlockWorker worker;
    private final Arena arena = Arena.ofConfined();
    private int result;
    private boolean done;

    public WorkerDriver(BlockImage image) throws IOException {
        this.ring = new IoUring(64);
        this.worker = image.newWorker(ring);
    }

    public IoUring ring() { return ring; }

    public BlockWorker worker() { return worker; }

    private IoVecArray buffers(MemorySegment seg, int pieces) {
        IoVecArray iov = new IoVecArray(arena, Math.max(1, pieces));
        long len = seg.byteSize();
        long piece = Math.max(512, (len / Math.max(1, pieces) + 511) & ~511L);
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

    /** Reads {@code length} bytes; fails the test on a negative result. */
    public byte[] read(long offset, int length) throws IOException {
        MemorySegment seg = arena.allocate(length, 8);
        seg.fill((byte) 0x5a);
        int r = readInto(offset, seg);
        if (r < 0) {
            throw new IOException("read at " + offset + " failed: " + r);
        }
        return seg.toArray(ValueLayout.JAVA_BYTE);
    }

    public int readInto(long offset, MemorySegment seg) throws IOException {
        worker.read(offset, buffers(seg, 3), this::completed, 1);
        return await();
    }

    public int write(long offset, byte[] data) throws IOException {
        MemorySegment seg = arena.allocate(data.length, 8);
        MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_BYTE, 0, data.length);
        return writeFrom(offset, seg);
    }

    /** Writes the bytes of {@code seg} (the caller's memory, e.g. deliberately misaligned). */
    public int writeFrom(long offset, MemorySegment seg) throws IOException {
        worker.write(offset, buffers(seg, 3), this::completed, 2);
        return await();
    }

    /** Writes from iovecs the caller laid out (e.g. a magic number split across entries). */
    public int writev(long offset, IoVecArray iov) throws IOException {
        worker.write(offset, iov, this::completed, 2);
        return await();
    }

    public int flush() throws IOException {
        worker.flush(this::completed, 3);
        return await();
    }

    public int discard(long offset, long length) throws IOException {
        worker.discard(offset, length, this::completed, 4);
        return await();
    }

    public int writeZeroes(long offset, long length, boolean unmap) throws IOException {
        worker.writeZeroes(offset, length, unmap, this::completed, 5);
        return await();
    }

    @Override
    public void close() throws IOException {
        ring.drain();
        worker.close();
        ring.close();
        arena.close();
    }
}
