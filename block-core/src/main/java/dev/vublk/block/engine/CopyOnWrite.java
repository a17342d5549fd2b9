package dev.vublk.block.engine;

import dev.vublk.block.Allocation;
import dev.vublk.block.storage.Storage;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoVecArray;
import java.lang.foreign.Arena;

/**
 * Fills an {@link Allocation}: the old data of the parts of its range the guest does not write
 * (backing, zeros, compressed or shared data) is read into a bounce buffer through the engine's
 * read path, the guest data copied in after it, and the whole range written in one operation;
 * then the format commits the allocation (or aborts it on failure) and the requests waiting on
 * it resume. A write covering the whole range goes straight from guest memory. Pooled.
 */
final class CopyOnWrite implements IoCompletion, BounceBuffers.Borrower {
    private final QueueEngine engine;
    private final IoVecArray whole;
    private Allocation a;
    private Storage storage;
    private long pos, end, at;
    private IoVecArray buffers;
    private Request r;
    private BounceBuffers.Buffer bounce;
    /** The reads of old data: completes through {@link #oldDataRead}. */
    private final IoCompletion afterRead = (t, res) -> oldDataRead(res);

    CopyOnWrite(QueueEngine engine, Arena arena) {
        this.engine = engine;
        this.whole = new IoVecArray(arena, 1);
    }

    void start(Allocation a, Storage storage, long pos, long end, IoVecArray buffers, long at, Request r) {
        this.a = a;
        this.storage = storage;
        this.pos = pos;
        this.end = end;
        this.buffers = buffers;
        this.at = at;
        this.r = r;
        r.add();
        engine.own(a);
        if (a.fillStart() == pos && a.fillEnd() == end) {
            engine.transfers().write(storage, a.hostStart(), buffers, at, end - pos, -1, pos, false, this);
        } else if (!engine.bounces().borrow(this)) {
            complete(0, -dev.vublk.uring.Errno.ENOMEM);
        }
    }

    @Override
    public long bounceBytes() {
        return a.fillEnd() - a.fillStart();
    }

    @Override
    public void lend(BounceBuffers.Buffer b) {
        bounce = b;
        whole.clear();
        whole.add(b.segment().address(), bounceBytes());
        Request reads = engine.internalRequest(afterRead);
        if (pos > a.fillStart()) {
            engine.readInto(a.fillStart(), whole, 0, pos - a.fillStart(), reads);
        }
        if (a.fillEnd() > end) {
            engine.readInto(end, whole, end - a.fillStart(), a.fillEnd() - end, reads);
        }
        reads.complete(0, 0);
    }

    private void oldDataRead(int res) {
        if (res < 0) {
            complete(0, res);
            return;
        }
        try {
            buffers.copyTo(at, bounce.segment(), pos - a.fillStart(), end - pos);
        } catch (RuntimeException e) {
            complete(0, QueueEngine.errno(e));
            return;
        }
        engine.transfers().write(storage, a.hostStart(), whole, 0, bounceBytes(), -1, a.fillStart(), false, this);
    }

    /** The data write finished with 0 or an error: commit or abort the allocation. */
    @Override
    public void complete(long ignored, int res) {
        BounceBuffers.Buffer b = bounce;
        Allocation done = a;
        Request req = r;
        bounce = null;
        a = null;
        r = null;
        buffers = null;
        engine.recycle(this);
        if (b != null) {
            engine.bounces().give(b);
        }
        int result = engine.settle(done, res);
        req.complete(0, result);
    }
}
