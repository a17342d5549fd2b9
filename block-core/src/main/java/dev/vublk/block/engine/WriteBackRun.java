package dev.vublk.block.engine;

import dev.vublk.block.Mapping;
import dev.vublk.block.MetadataWrites;
import dev.vublk.block.storage.StorageQueue;
import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Runs a format's metadata write-back on the queue's ring, stage by stage: all writes of a stage
 * at once, then a sync of its storage, then the next stage. The queue thread never waits: other
 * requests go on while the stages complete. When the last stage is durable (or one operation
 * failed) the format hears {@link Mapping#writtenBack}, its waiters run, and {@code then} runs on
 * success; the request carries a failure.
 */
final class WriteBackRun implements IoCompletion {
    private static final long WRITE = 0, SYNC = 1;

    private final Mapping mapping;
    private final StorageQueues storages;
    private final MetadataWrites w;
    private final Request r;
    private final Runnable then;
    private int stage = -1;
    private int pending;
    private long bytesLeft;
    private int error;
    private StorageQueue queue;

    WriteBackRun(Mapping mapping, StorageQueues storages, MetadataWrites w, Request r, Runnable then) {
        this.mapping = mapping;
        this.storages = storages;
        this.w = w;
        this.r = r;
        this.then = then;
    }

    void start() {
        r.add();
        nextStage();
    }

    private void nextStage() {
        stage++;
        if (stage == w.stages()) {
            finish();
            return;
        }
        try {
            queue = storages.of(w.storage(stage));
        } catch (IOException | RuntimeException e) {
            error = QueueEngine.errno(e);
            finish();
            return;
        }
        int n = w.writes(stage);
        if (n == 0) {
            queue.flush(this, SYNC);
            return;
        }
        pending = n;
        bytesLeft = 0;
        for (int i = 0; i < n; i++) {
            bytesLeft += w.data(stage, i).byteSize();
        }
        for (int i = 0; i < n; i++) {
            MemorySegment data = w.data(stage, i);
            queue.write(w.offset(stage, i), data.address(), (int) data.byteSize(), this, WRITE);
        }
    }

    @Override
    public void complete(long tag, int res) {
        if (res < 0 && error == 0) {
            error = res;
        }
        if (tag == WRITE) {
            bytesLeft -= Math.max(res, 0);
            if (--pending > 0) {
                return;
            }
            if (error == 0 && bytesLeft != 0) {
                error = -Errno.EIO; // a short metadata write
            }
            if (error != 0) {
                finish();
            } else {
                queue.flush(this, SYNC);
            }
            return;
        }
        if (error != 0) {
            finish();
        } else {
            w.stageDurable(stage);
            nextStage();
        }
    }

    private void finish() {
        boolean ok = error == 0;
        int result = error;
        try {
            List<Runnable> waiters = mapping.writtenBack(w, error);
            for (int i = 0; i < waiters.size(); i++) {
                waiters.get(i).run();
            }
        } catch (IOException | RuntimeException e) {
            if (ok) {
                ok = false;
                result = QueueEngine.errno(e);
            }
        }
        if (ok) {
            then.run();
            r.complete(0, 0);
        } else {
            r.complete(0, result);
        }
    }
}
