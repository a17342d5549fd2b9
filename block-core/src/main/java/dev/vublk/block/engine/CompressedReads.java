package dev.vublk.block.engine;

import dev.vublk.block.Mapping;
import dev.vublk.block.storage.Storage;
import dev.vublk.block.storage.StorageQueue;
import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoVecArray;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;

/**
 * Reads of compressed runs for one queue: the stream is read into a buffer of the operation's,
 * inflated by the format into this queue's one-unit cache, and the part asked for copied to the
 * guest. Sequential reads of one compressed unit hit the cache. Pooled operations.
 */
final class CompressedReads {
    private final StorageQueues storages;
    private final Mapping mapping;
    private final Arena arena;
    private final int unit;
    private final MemorySegment inflated;
    private Storage inflatedStorage;
    private long inflatedHost = -1;
    private final ArrayDeque<Op> pool = new ArrayDeque<>();

    CompressedReads(StorageQueues storages, Mapping mapping, Arena arena) {
        this.storages = storages;
        this.mapping = mapping;
        this.arena = arena;
        this.unit = mapping.compressedUnit();
        this.inflated = arena.allocate(Math.max(1, unit), 4096);
    }

    /**
     * Copies {@code length} bytes of the unit inflated from the stream at {@code host}, starting
     * {@code within} bytes into the unit, to the buffers at {@code at}.
     */
    void read(Storage s, long host, long streamLength, long within, IoVecArray buffers, long at, long length, Request r)
            throws IOException {
        if (unit == 0 || within < 0 || length > unit - within) {
            throw new IOException("compressed run outside its unit (format error)");
        }
        if (inflatedStorage == s && inflatedHost == host) {
            buffers.copyFrom(inflated, within, at, length);
            return;
        }
        StorageQueue q = storages.of(s);
        Op op = pool.isEmpty() ? new Op() : pool.pop();
        op.storage = s;
        op.host = host;
        op.within = within;
        op.length = length;
        op.buffers = buffers;
        op.at = at;
        op.r = r;
        r.add();
        q.read(host, op.in.address(), (int) Math.min(streamLength, op.in.byteSize()), op, 0);
    }

    private final class Op implements IoCompletion {
        /** The largest stream a unit may have, plus a sector of slack for its alignment. */
        private final MemorySegment in = arena.allocate(2L * unit + 512, 4096);
        private Storage storage;
        private long host, within, length, at;
        private IoVecArray buffers;
        private Request r;

        @Override
        public void complete(long ignored, int res) {
            int result = Math.min(res, 0);
            if (res >= 0) {
                inflatedHost = -1;
                if (mapping.inflate(in.asSlice(0, res), inflated)) {
                    inflatedStorage = storage;
                    inflatedHost = host;
                    try {
                        buffers.copyFrom(inflated, within, at, length);
                    } catch (RuntimeException e) {
                        result = QueueEngine.errno(e);
                    }
                } else {
                    result = -Errno.EIO;
                }
            }
            Request req = r;
            r = null;
            buffers = null;
            storage = null;
            pool.push(this);
            req.complete(0, result);
        }
    }
}
