package dev.vublk.block.storage.nbd;

import dev.vublk.uring.IoCompletion;

/**
 * One call on a {@link NbdQueue} (a read, write, zero or flush) waiting for its parts: the NBD
 * commands it was split into, and for a flush the other connections' flushes. It completes once
 * every part has, with its byte count, or the first part's error. Pooled per queue.
 */
final class NbdOp {
    private IoCompletion done;
    private long tag;
    private int pending;
    private int result;
    private int bytes;

    void start(IoCompletion done, long tag, int bytes) {
        this.done = done;
        this.tag = tag;
        this.bytes = bytes;
        this.pending = 1; // held by the caller while it adds parts, so no part can finish the op early
        this.result = 0;
    }

    void addPart() {
        pending++;
    }

    /** Records a part's result; returns true when that was the last part. */
    boolean partDone(int res) {
        if (res < 0 && result == 0) {
            result = res;
        }
        return --pending == 0;
    }

    /** Delivers the result; the op may be reused at once. */
    void complete() {
        IoCompletion d = done;
        done = null;
        d.complete(tag, result < 0 ? result : bytes);
    }
}
