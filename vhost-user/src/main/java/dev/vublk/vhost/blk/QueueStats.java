package dev.vublk.vhost.blk;

import dev.vublk.vhost.blk.RequestKind.LatencyClass;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The live counters of one queue index over the process's lifetime: each connection's thread
 * for that index continues them. Only the queue's own thread writes them, so an update is a
 * plain read and a release store, no atomic instruction and no shared cache line with another
 * queue; readers on other threads take {@link #snapshot} at any time. A snapshot is not one
 * instant (a request may show in its count but not yet in its histogram), but every counter in
 * it is at least its value in any earlier snapshot, and a completion seen implies its take seen,
 * so the in-flight count is never negative. The one case with two writers: a thread whose storage
 * hung past {@code BlkQueueThread.STOP_WAIT_MILLIS} is left running, and should it complete
 * requests while a new connection's thread serves the same index, updates of both may be lost.
 */
public final class QueueStats {
    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(long[].class);
    private static final int KINDS = RequestKind.values().length;
    private static final int STATUSES = RequestStatus.values().length;
    private static final int CLASSES = LatencyClass.values().length;
    /** Unused slots before and after the counters: one cache line, so no other object shares theirs. */
    private static final int PAD = 8;
    private static final int REQUESTS = PAD; // [kind][status]
    private static final int BYTES_READ = REQUESTS + KINDS * STATUSES;
    private static final int BYTES_WRITTEN = BYTES_READ + 1;
    private static final int TAKEN = BYTES_WRITTEN + 1;
    private static final int DROPPED = TAKEN + 1;
    private static final int LATENCY_SUM = DROPPED + 1; // [class]
    private static final int BINS = LATENCY_SUM + CLASSES; // [class][bucket]
    private static final int SLOTS = BINS + CLASSES * LatencyHistogram.BUCKETS + PAD;

    private final long[] slots = new long[SLOTS];

    /** A request was taken from the ring: it is in flight until {@link #completed} or {@link #dropped}. */
    public void taken() {
        add(TAKEN, 1);
    }

    /**
     * Chains taken from the ring that will never complete with a status: a malformed one, or
     * the requests a failed queue was running when it stopped.
     */
    public void dropped(long count) {
        add(DROPPED, count);
    }

    /**
     * A request completed with {@code status} after {@code latencyNanos} on the queue;
     * {@code bytes} (its data buffers) count as read or written if it was a read or write that
     * succeeded.
     */
    public void completed(RequestKind kind, RequestStatus status, long bytes, long latencyNanos) {
        if (status == RequestStatus.OK) {
            if (kind == RequestKind.READ) {
                add(BYTES_READ, bytes);
            } else if (kind == RequestKind.WRITE) {
                add(BYTES_WRITTEN, bytes);
            }
        }
        int latencyClass = kind.latencyClass().ordinal();
        add(BINS + latencyClass * LatencyHistogram.BUCKETS + LatencyHistogram.bucketOf(latencyNanos), 1);
        add(LATENCY_SUM + latencyClass, Math.max(0, latencyNanos));
        add(REQUESTS + kind.ordinal() * STATUSES + status.ordinal(), 1); // last: it ends the request's time in flight
    }

    /** Only the queue's thread calls this: its own plain read is exact, the store publishes. */
    private void add(int slot, long delta) {
        SLOT.setRelease(slots, slot, slots[slot] + delta);
    }

    private long read(int slot) {
        return (long) SLOT.getAcquire(slots, slot);
    }

    /** The counters now, as queue {@code index}. */
    QueueStatistics snapshot(int index) {
        long[] requests = new long[KINDS * STATUSES];
        long completed = 0;
        for (int i = 0; i < requests.length; i++) {
            requests[i] = read(REQUESTS + i);
            completed += requests[i];
        }
        LatencyHistogram[] latency = new LatencyHistogram[CLASSES];
        for (int c = 0; c < CLASSES; c++) {
            long[] bins = new long[LatencyHistogram.BUCKETS];
            for (int b = 0; b < bins.length; b++) {
                bins[b] = read(BINS + c * LatencyHistogram.BUCKETS + b);
            }
            latency[c] = new LatencyHistogram(bins, read(LATENCY_SUM + c));
        }
        long dropped = read(DROPPED);
        // Read after the completions: every completion seen here was preceded by its take.
        long inFlight = read(TAKEN) - completed - dropped;
        return new QueueStatistics(index, requests, read(BYTES_READ), read(BYTES_WRITTEN), dropped, inFlight, latency);
    }
}
