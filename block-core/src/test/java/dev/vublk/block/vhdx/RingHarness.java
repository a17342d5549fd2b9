package dev.vublk.block.vhdx;

import dev.vublk.block.BlockImage;
import dev.vublk.block.BlockWorker;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Drives a worker on a real io_uring with native buffers, one request at a time, splitting each
 * buffer into a few iovecs so slicing is exercised.
 */
final class RingHarness implements AutoCloseable {
    final IoUring ring;
    final BlockWorker worker;
    private final Arena arena = Arena.ofConfined();
    private int result;
    private boolean finished;

    RingHarness(BlockImage image) throws IOException {
        ring = new IoUring(64);
        worker = image.newWorker(ring);
    }

    private IoVecArray buffers(MemorySegment seg) {
        IoVecArray iov = new IoVecArray(arena, 8);
        long len = seg.byteSize();
        long piece = len >= 4096 * 3 ? Math.max(512, len / 3 / 512 * 512) : len;
        long at = 0;
        while (at < len) {
            long n = iov.count() == 7 ? len - at : Math.min(piece, len - at);
            iov.add(seg.address() + at, n);
            at += n;
        }
        return iov;
    }

    private int await() throws IOException {
        while (!finished) {
            ring.submitAndWait();
        }
        finished = false;
        return result;
    }

    private void done(long tag, int res) {
        result = res;
        finished = true;
    }

    byte[] read(long offset, int length) throws IOException {
        MemorySegment seg = arena.allocate(length, 4096);
        seg.fill((byte) 0x5a);
        worker.read(offset, buffers(seg), this::done, 1);
        check(await(), "read", offset);
        return seg.toArray(ValueLayout.JAVA_BYTE);
    }

    int tryWrite(long offset, byte[] data) throws IOException {
        MemorySegment seg = arena.allocate(data.length, 4096);
        MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_BYTE, 0, data.length);
        worker.write(offset, buffers(seg), this::done, 2);
        return await();
    }

    void write(long offset, byte[] data) throws IOException {
        check(tryWrite(offset, data), "write", offset);
    }

    void flush() throws IOException {
        worker.flush(this::done, 3);
        check(await(), "flush", 0);
    }

    void discard(long offset, long length) throws IOException {
        worker.discard(offset, length, this::done, 4);
        check(await(), "discard", offset);
    }

    void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
        worker.writeZeroes(offset, length, mayUnmap, this::done, 5);
        check(await(), "write-zeroes", offset);
    }

    private static void check(int res, String what, long offset) throws IOException {
        if (res < 0) {
            throw new IOException(what + " at " + offset + " failed: " + res);
        }
    }

    @Override
    public void close() {
        worker.close();
        ring.close();
        arena.close();
    }
}
