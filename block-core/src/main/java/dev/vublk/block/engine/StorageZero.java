package dev.vublk.block.engine;

import dev.vublk.block.Mapping;
import dev.vublk.block.storage.Storage;
import dev.vublk.uring.IoCompletion;
import java.io.IOException;

/** A storage range made to read as zeros, then reported to the mapping if it has a token. Pooled. */
final class StorageZero implements IoCompletion {
    private final QueueEngine engine;
    private final Mapping mapping;
    private long guest, length, token;
    private Request r;

    StorageZero(QueueEngine engine, Mapping mapping) {
        this.engine = engine;
        this.mapping = mapping;
    }

    void start(Storage s, long host, long guest, long length, boolean release, long token, Request r) {
        this.guest = guest;
        this.length = length;
        this.token = token;
        this.r = r;
        r.add();
        try {
            engine.storageQueue(s).zero(host, length, release, this, 0);
        } catch (IOException | RuntimeException e) {
            complete(0, QueueEngine.errno(e));
        }
    }

    @Override
    public void complete(long ignored, int res) {
        int result = Math.min(res, 0);
        if (token != -1) {
            try {
                mapping.written(token, guest, length, result >= 0);
            } catch (IOException | RuntimeException e) {
                result = result < 0 ? result : QueueEngine.errno(e);
            }
        }
        Request req = r;
        r = null;
        engine.recycle(this);
        req.complete(0, result);
    }
}
