package dev.vublk.block.engine;

import dev.vublk.uring.IoCompletion;

/**
 * One guest request (or an internal one, like the reads of a copy-on-write) split into
 * operations: it completes once all of them have, with the first error, or 0. The issuing code
 * holds one count while it issues, released by {@code complete(0, 0)}. Pooled by the engine.
 */
final class Request implements IoCompletion {
    enum Op { READ, WRITE, FLUSH, DISCARD, WRITE_ZEROES, INTERNAL }

    private final QueueEngine engine;
    Op op;
    long offset;
    long length;
    IoCompletion done;
    long tag;
    private int pending;
    private int error;

    Request(QueueEngine engine) {
        this.engine = engine;
    }

    void start(Op op, long offset, long length, IoCompletion done, long tag) {
        this.op = op;
        this.offset = offset;
        this.length = length;
        this.done = done;
        this.tag = tag;
        this.pending = 1;
        this.error = 0;
    }

    void add() {
        pending++;
    }

    /** Fails the request with {@code errno} (negative), as one more finished operation. */
    void fail(int errno) {
        add();
        complete(0, errno);
    }

    /** One operation (or the issuer's count) finished with a result; negative is an errno. */
    @Override
    public void complete(long ignored, int result) {
        if (result < 0 && error == 0) {
            error = result;
        }
        if (--pending == 0) {
            engine.finished(this, error);
        }
    }
}
