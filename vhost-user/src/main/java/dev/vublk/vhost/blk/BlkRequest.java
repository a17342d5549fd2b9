package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.BlkRequestType.S_IOERR;
import static dev.vublk.vhost.blk.BlkRequestType.S_OK;

import dev.vublk.block.BlockWorker;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoVecArray;
import dev.vublk.vhost.DirtyLog;
import dev.vublk.virtqueue.DescriptorChain;
import dev.vublk.virtqueue.PieceConsumer;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One guest request in flight on a queue: pooled and reused, so a request allocates nothing.
 * It counts the block operations it started and completes the descriptor chain when the last
 * one is done, failing it if any failed.
 */
final class BlkRequest implements IoCompletion {
    final IoVecArray data;
    /** Adds guest pieces to {@link #data}; made once so filling it allocates nothing. */
    final PieceConsumer addPiece;
    private final RequestOwner owner;
    int head;
    int type;
    /** Native address of the status byte in guest memory. */
    long statusAddress;
    /** Bytes the device writes into the chain's writable buffers, status included. */
    int usedLength;
    /** System.nanoTime() when the queue took the request: where its latency starts. */
    long takenNanos;
    /**
     * Held for disk space ({@link SpaceWait}) since {@link #heldSince}; kept when the request is
     * started again (not cleared by {@link #reset}), so its wait is bounded from the first failure.
     */
    boolean heldForSpace;
    long heldSince;
    private int pending;
    private int firstError;
    private boolean flushAfter;
    /** Guest ranges of the chain's writable buffers, kept only while migration logs every write. */
    private long[] writtenGpas = new long[0];
    private long[] writtenLengths = new long[0];
    private int writtenCount;

    BlkRequest(RequestOwner owner, int iovCapacity) {
        this.owner = owner;
        this.data = new IoVecArray(iovCapacity);
        this.addPiece = data::add;
    }

    void reset(int head, int type, long statusAddress) {
        this.head = head;
        this.type = type;
        this.statusAddress = statusAddress;
        this.usedLength = 1;
        this.pending = 0;
        this.firstError = 0;
        this.flushAfter = false;
        this.writtenCount = 0;
        data.clear();
    }

    /**
     * Remembers where the device may write in guest-physical terms (the iovecs hold host
     * addresses), so {@link #markWritten} can log the pages once the data is there.
     */
    void recordWritable(DescriptorChain chain) {
        int n = chain.size() - chain.firstWritable();
        if (writtenGpas.length < n) {
            writtenGpas = new long[Math.max(n, chain.capacity())]; // once per pooled request
            writtenLengths = new long[writtenGpas.length];
        }
        for (int i = chain.firstWritable(), k = 0; i < chain.size(); i++, k++) {
            writtenGpas[k] = chain.address(i);
            writtenLengths[k] = chain.length(i);
        }
        writtenCount = n;
    }

    /** Logs every writable buffer of the chain: the data (IN, GET_ID) and the status byte. */
    void markWritten(DirtyLog log) {
        for (int i = 0; i < writtenCount; i++) {
            log.mark(writtenGpas[i], writtenLengths[i]);
        }
    }

    /** Counts a block operation about to be started; call before starting it. */
    void expect() {
        pending++;
    }

    /** The write must be durable before the guest hears of it (write-through mode). */
    void flushAfter() {
        flushAfter = true;
    }

    @Override
    public void complete(long tag, int result) {
        if (result < 0 && firstError == 0) {
            firstError = result;
        }
        if (--pending > 0) {
            return;
        }
        if (firstError == 0 && flushAfter) {
            flushAfter = false;
            pending = 1;
            owner.worker().flush(this, 0);
            return;
        }
        owner.finish(this, firstError == 0 ? S_OK : S_IOERR, firstError);
    }

    void writeStatus(byte status) {
        MemorySegment.ofAddress(statusAddress).reinterpret(1).set(ValueLayout.JAVA_BYTE, 0, status);
    }

    BlockWorker worker() {
        return owner.worker();
    }

    RequestOwner owner() {
        return owner;
    }
}
