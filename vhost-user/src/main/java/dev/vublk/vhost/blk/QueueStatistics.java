package dev.vublk.vhost.blk;

import dev.vublk.vhost.blk.RequestKind.LatencyClass;
import java.util.Arrays;

/**
 * An immutable snapshot of one queue's statistics since the process started, or of all queues
 * together ({@link #queue()} is then -1). Requests are counted once they complete, by kind and
 * status; bytes only for reads and writes that succeeded.
 */
public final class QueueStatistics {
    private static final int STATUSES = RequestStatus.values().length;

    private final int queue;
    private final long[] requests;
    private final long bytesRead;
    private final long bytesWritten;
    private final long dropped;
    private final long inFlight;
    private final LatencyHistogram[] latency;

    QueueStatistics(int queue, long[] requests, long bytesRead, long bytesWritten, long dropped, long inFlight,
                    LatencyHistogram[] latency) {
        this.queue = queue;
        this.requests = requests.clone();
        this.bytesRead = bytesRead;
        this.bytesWritten = bytesWritten;
        this.dropped = dropped;
        this.inFlight = inFlight;
        this.latency = latency.clone();
    }

    /** Nothing counted yet, as queue {@code index}. */
    static QueueStatistics empty(int index) {
        LatencyHistogram[] latency = new LatencyHistogram[LatencyClass.values().length];
        Arrays.fill(latency, new LatencyHistogram(new long[LatencyHistogram.BUCKETS], 0));
        return new QueueStatistics(index, new long[RequestKind.values().length * STATUSES], 0, 0, 0, 0, latency);
    }

    /** The queue index, or -1 for the total over all queues. */
    public int queue() {
        return queue;
    }

    /** Requests of {@code kind} that completed with {@code status}. */
    public long requests(RequestKind kind, RequestStatus status) {
        return requests[kind.ordinal() * STATUSES + status.ordinal()];
    }

    /** Requests of {@code kind} that completed, whatever their status. */
    public long requests(RequestKind kind) {
        long n = 0;
        for (RequestStatus s : RequestStatus.values()) {
            n += requests(kind, s);
        }
        return n;
    }

    /** Requests of any kind that completed with {@code status}. */
    public long requests(RequestStatus status) {
        long n = 0;
        for (RequestKind k : RequestKind.values()) {
            n += requests(k, status);
        }
        return n;
    }

    /** Every request that completed. */
    public long completed() {
        return Arrays.stream(requests).sum();
    }

    /** Bytes that reads which succeeded brought to the guest. */
    public long bytesRead() {
        return bytesRead;
    }

    /** Bytes that writes which succeeded took from the guest. */
    public long bytesWritten() {
        return bytesWritten;
    }

    /**
     * Requests taken that never completed with a status: malformed descriptor chains, and the
     * requests a failed queue was running (see {@code BlkQueueThread}).
     */
    public long dropped() {
        return dropped;
    }

    /** Requests taken from the ring and not yet completed. */
    public long inFlight() {
        return inFlight;
    }

    /** Latencies, from the queue taking a request to completing it, of one class of requests. */
    public LatencyHistogram latency(LatencyClass latencyClass) {
        return latency[latencyClass.ordinal()];
    }

    /** This snapshot and {@code other} added up, as queue {@code index}. */
    QueueStatistics plus(QueueStatistics other, int index) {
        long[] sum = requests.clone();
        for (int i = 0; i < sum.length; i++) {
            sum[i] += other.requests[i];
        }
        LatencyHistogram[] histograms = new LatencyHistogram[latency.length];
        for (int i = 0; i < histograms.length; i++) {
            histograms[i] = latency[i].plus(other.latency[i]);
        }
        return new QueueStatistics(index, sum, bytesRead + other.bytesRead, bytesWritten + other.bytesWritten,
                dropped + other.dropped, inFlight + other.inFlight, histograms);
    }

    /**
     * The counters in one line, {@code name=value} pairs the VM tests parse: requests by kind
     * ({@code reads}, {@code writes}, {@code flushes}, {@code discards}, {@code write_zeroes},
     * {@code get_id}, and {@code unknown} for types this device does not serve), then by
     * status ({@code unsupported}: completed with UNSUPP, {@code errors}: with IOERR), bytes,
     * dropped chains and requests in flight.
     */
    @Override
    public String toString() {
        return "reads=" + requests(RequestKind.READ) + " writes=" + requests(RequestKind.WRITE)
                + " flushes=" + requests(RequestKind.FLUSH) + " discards=" + requests(RequestKind.DISCARD)
                + " write_zeroes=" + requests(RequestKind.WRITE_ZEROES) + " get_id=" + requests(RequestKind.GET_ID)
                + " unknown=" + requests(RequestKind.UNKNOWN)
                + " unsupported=" + requests(RequestStatus.UNSUPP) + " errors=" + requests(RequestStatus.IOERR)
                + " bytes_read=" + bytesRead + " bytes_written=" + bytesWritten
                + " dropped=" + dropped + " in_flight=" + inFlight;
    }
}
