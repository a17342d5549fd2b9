package dev.vublk.block;

import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoVecArray;

/**
 * The per-queue side of an image: turns one guest request into io_uring operations on the
 * queue's ring, straight into or out of guest memory. Calls come from the queue thread only, and
 * so do completions. Each request completes exactly once through {@code done} with
 * {@code result >= 0} on success or a negative errno; it may complete before the call returns.
 * Ranges are validated by the caller (inside the image, aligned to the request alignment), but a
 * worker must still fail, not misbehave, if they are not.
 */
public interface BlockWorker {
    /** Fills {@code buffers} with {@code buffers.totalBytes()} bytes from {@code offset}. */
    void read(long offset, IoVecArray buffers, IoCompletion done, long tag);

    /** Writes {@code buffers.totalBytes()} bytes at {@code offset}. */
    void write(long offset, IoVecArray buffers, IoCompletion done, long tag);

    /** Makes every write completed before this call durable: metadata first, then a data fsync. */
    void flush(IoCompletion done, long tag);

    /**
     * Lets the image forget a range. Virtio allows ignoring it in part or whole (formats skip
     * pieces smaller than their allocation unit); what is forgotten reads back as zeros, never as
     * older data of a backing file the guest had overwritten.
     */
    void discard(long offset, long length, IoCompletion done, long tag);

    /** Makes a range read as zeros; with {@code mayUnmap} the space may also be released. */
    void writeZeroes(long offset, long length, boolean mayUnmap, IoCompletion done, long tag);

    /**
     * The queue is stopping and no request is in flight: the worker ends the operations it keeps
     * on the ring for itself (its storages' socket receives and eventfd reads), so the ring can
     * drain. Called on the queue thread, perhaps more than once, before {@link #close}.
     */
    default void stop() {}

    /** Releases the worker's buffers; called on the queue thread after its ring has drained. */
    default void close() {}
}
