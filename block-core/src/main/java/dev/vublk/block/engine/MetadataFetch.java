package dev.vublk.block.engine;

import dev.vublk.block.Mapping;
import dev.vublk.block.storage.Storage;
import dev.vublk.block.storage.StorageQueue;
import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import java.io.IOException;

/**
 * Reads metadata a format asked for (a table missing from its cache) on the queue's ring, into a
 * buffer of the queue's bounce budget, hands it to {@link Mapping#fetched} and runs the retry:
 * the request that missed waits, its queue does not. A fetch never waits for the budget: the
 * transfers holding it (a copy-on-write among them) may themselves wait on this fetch. With the
 * budget on loan the retry runs at once, and the format loads the metadata itself. Pooled.
 */
final class MetadataFetch implements IoCompletion {
    private final QueueEngine engine;
    private final Mapping mapping;
    private StorageQueue queue;
    private long host;
    private int length;
    private long token;
    private Request r;
    private Runnable then;
    private BounceBuffers.Buffer buffer;

    MetadataFetch(QueueEngine engine, Mapping mapping) {
        this.engine = engine;
        this.mapping = mapping;
    }

    void start(Storage s, long host, int length, long token, Request r, Runnable then) throws IOException {
        this.queue = engine.storageQueue(s);
        this.host = host;
        this.length = length;
        this.token = token;
        this.r = r;
        this.then = then;
        r.add();
        buffer = engine.bounces().take(length);
        if (buffer == null) {
            finish(0); // the budget is on loan: the retry loads the metadata synchronously
            return;
        }
        queue.read(host, buffer.segment().address(), length, this, 0);
    }

    @Override
    public void complete(long ignored, int res) {
        int result = res < 0 ? res : res == length ? 0 : -Errno.EIO; // metadata past the end of the file is damage
        if (result == 0) {
            try {
                mapping.fetched(host, token, buffer.segment().asSlice(0, length));
            } catch (IOException | RuntimeException e) {
                result = QueueEngine.errno(e);
            }
        }
        finish(result);
    }

    private void finish(int result) {
        BounceBuffers.Buffer b = buffer;
        Request req = r;
        Runnable retry = then;
        buffer = null;
        r = null;
        then = null;
        queue = null;
        engine.recycle(this);
        if (b != null) {
            engine.bounces().give(b);
        }
        if (result == 0) {
            retry.run();
            req.complete(0, 0);
        } else {
            req.complete(0, result);
        }
    }
}
