package dev.vublk.block.storage;

import dev.vublk.uring.IoUring;
import java.io.IOException;

/**
 * Where an image's bytes live, below the formats: a file today, a network block store later. A
 * format's {@link dev.vublk.block.Mapping} names a storage and an offset for each guest range,
 * and the queue engine moves the bytes through that storage's per-queue side; formats never
 * call the kernel for guest data themselves.
 *
 * <p>A storage is shared by every queue; {@link #queue} gives one queue thread its own side,
 * bound to that thread's ring. A store with its own completion source (a library's callback
 * thread, a socket) delivers its completions on the queue thread by polling an eventfd on that
 * ring, so one queue loop waits for everything at once.
 */
public interface Storage {
    /** The name used in messages (a path, an image name). */
    String name();

    boolean writable();

    /**
     * What transfers must meet, in bytes, for memory addresses, offsets and lengths alike: the
     * probed O_DIRECT unit, or 1 when anything goes. The engine bounces guest memory that misses it.
     */
    int alignment();

    /** This storage's side for one queue thread; every call on it comes from that thread. */
    StorageQueue queue(IoUring ring) throws IOException;
}
