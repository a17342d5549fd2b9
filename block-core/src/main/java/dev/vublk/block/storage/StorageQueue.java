package dev.vublk.block.storage;

import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoVecArray;

/**
 * One queue thread's side of a {@link Storage}. Operations never throw: each completes exactly
 * once through {@code done}, perhaps before the call returns, with a byte count (reads may come
 * up short only at the end of the storage) or 0, or a negative errno.
 */
public interface StorageQueue {
    /** Reads {@code iov.totalBytes()} bytes at {@code offset} into {@code iov}'s buffers. */
    void readv(long offset, IoVecArray iov, IoCompletion done, long tag);

    /** Writes {@code iov.totalBytes()} bytes at {@code offset}. */
    void writev(long offset, IoVecArray iov, IoCompletion done, long tag);

    /** Reads {@code length} bytes into native memory at {@code address} (no alignment asked). */
    void read(long offset, long address, int length, IoCompletion done, long tag);

    /** Writes {@code length} bytes from native memory at {@code address} (no alignment asked). */
    void write(long offset, long address, int length, IoCompletion done, long tag);

    /** Makes every completed write durable. */
    void flush(IoCompletion done, long tag);

    /**
     * Makes a range read as zeros. With {@code release} the space may be given back (a hole);
     * without it the space should stay allocated, but a store that cannot keep it may release it
     * anyway: either reads back as zeros.
     */
    void zero(long offset, long length, boolean release, IoCompletion done, long tag);

    /**
     * The queue is stopping: no new operations will come. A side that keeps operations on the
     * ring for itself rather than for a request (a socket receive, an eventfd read delivering a
     * library's completions, a reconnect timer) ends them once every operation it started has
     * completed; they complete on the ring, which then drains. Operations only waiting for the
     * store to come back (a reconnect) fail now with EIO. The queue thread waits for the ring to
     * drain before {@link #close}. Called on the queue thread, perhaps more than once.
     */
    default void stop() {}

    /** Releases the side's descriptors and memory; called on the queue thread after the ring drained. */
    default void close() {}
}
