package dev.vublk.block.engine;

import dev.vublk.block.storage.Storage;
import dev.vublk.block.storage.StorageQueue;
import dev.vublk.uring.IoUring;
import java.io.IOException;
import java.util.Arrays;

/**
 * One queue's sides of the storages its image chain uses, made on first use: an image names a
 * few storages at most (data file, image file, parents' data files), so a linear search by
 * identity is the cheapest lookup and allocates nothing.
 */
final class StorageQueues {
    private final IoUring ring;
    private Storage[] storages = new Storage[4];
    private StorageQueue[] queues = new StorageQueue[4];
    private int count;

    StorageQueues(IoUring ring) {
        this.ring = ring;
    }

    StorageQueue of(Storage s) throws IOException {
        for (int i = 0; i < count; i++) {
            if (storages[i] == s) {
                return queues[i];
            }
        }
        if (count == storages.length) {
            storages = Arrays.copyOf(storages, count * 2);
            queues = Arrays.copyOf(queues, count * 2);
        }
        StorageQueue q = s.queue(ring);
        storages[count] = s;
        queues[count] = q;
        count++;
        return q;
    }

    /** Lets every side end its standing operations (see {@link StorageQueue#stop}). */
    void stop() {
        for (int i = 0; i < count; i++) {
            queues[i].stop();
        }
    }

    /** Closes every side; the ring has drained. */
    void close() {
        for (int i = 0; i < count; i++) {
            queues[i].close();
        }
        count = 0;
    }
}
