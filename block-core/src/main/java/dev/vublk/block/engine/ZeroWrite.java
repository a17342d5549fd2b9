package dev.vublk.block.engine;

import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoVecArray;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Zeros written as data through the engine's write path, for what a format's metadata cannot
 * express: one shared zero chunk repeated in an iovec array, so nothing is allocated. Pooled.
 */
final class ZeroWrite implements IoCompletion {
    private final QueueEngine engine;
    private final MemorySegment zeros;
    private final IoVecArray iov;
    private Request parent;

    ZeroWrite(QueueEngine engine, Arena arena, MemorySegment zeros) {
        this.engine = engine;
        this.zeros = zeros;
        this.iov = new IoVecArray(arena, IoVecArray.IOV_MAX);
    }

    void start(long pos, long end, Request parent) throws IOException {
        long length = end - pos;
        if (length > (long) QueueEngine.ZERO_CHUNK * IoVecArray.IOV_MAX) {
            throw new IOException("zero write of " + length + " bytes in one step (format error)");
        }
        this.parent = parent;
        parent.add();
        iov.clear();
        for (long done = 0; done < length; done += QueueEngine.ZERO_CHUNK) {
            iov.add(zeros.address(), Math.min(QueueEngine.ZERO_CHUNK, length - done));
        }
        Request r = engine.internalRequest(this);
        engine.writeRange(pos, end, iov, 0, r);
        r.complete(0, 0);
    }

    @Override
    public void complete(long ignored, int res) {
        Request p = parent;
        parent = null;
        engine.recycle(this);
        p.complete(0, res);
    }
}
