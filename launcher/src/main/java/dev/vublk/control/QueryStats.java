package dev.vublk.control;

import dev.vublk.vhost.blk.DiskStatistics;
import dev.vublk.vhost.blk.LatencyHistogram;
import dev.vublk.vhost.blk.QueueStatistics;
import dev.vublk.vhost.blk.RequestKind;
import dev.vublk.vhost.blk.RequestKind.LatencyClass;
import dev.vublk.vhost.blk.RequestStatus;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * {@code query-stats}: the disk's statistics since the process started, in total and per queue
 * index (every configured queue, started or not). It takes no arguments. The reply:
 * <pre>{@code
 * {"disk": "SERIAL", "size": BYTES,
 *  "total": STATS,
 *  "queues": [{"queue": 0, ...STATS}, {"queue": 1, ...STATS}, ...]}
 *
 * STATS = {
 *  "requests": {"read": {"ok": N, "ioerr": N, "unsupp": N}, "write": {...}, "flush": {...},
 *               "discard": {...}, "write_zeroes": {...}, "get_id": {...}, "unknown": {...}},
 *  "completed": N, "errors": N, "unsupported": N,
 *  "bytes_read": N, "bytes_written": N, "dropped": N, "in_flight": N,
 *  "latency": {"read": HISTOGRAM, "write": HISTOGRAM, "other": HISTOGRAM}}
 *
 * HISTOGRAM = {"boundaries": [1024, 2048, ..., 34359738368], "bins": [N, ...], "count": N, "sum_ns": N}
 * }</pre>
 * Requests count once completed, by type ({@code unknown}: a type this device does not serve)
 * and by the status the guest got; {@code errors} and {@code unsupported} add up the
 * {@code ioerr} and {@code unsupp} ones. Bytes count for reads and writes that succeeded.
 * {@code dropped} counts requests that will never get a status: descriptor chains too malformed
 * to carry one, and those a failed queue was running; {@code in_flight}
 * the requests taken from the ring and not yet completed. Latency runs from the queue taking a
 * request to completing it; as in QEMU's {@code BlockLatencyHistogram}, {@code boundaries} (in
 * ns) has one entry fewer than {@code bins}, whose first counts latencies up to the first
 * boundary and whose last those above the last one; unlike QEMU, a latency equal to a boundary
 * counts in the bin below it (Prometheus' {@code le}). Every number is an integer.
 */
public final class QueryStats implements QmpCommand {
    private static final List<Long> BOUNDARIES;

    static {
        List<Long> bounds = new ArrayList<>();
        for (int i = 0; i < LatencyHistogram.BOUNDS; i++) {
            bounds.add(LatencyHistogram.boundNanos(i));
        }
        BOUNDARIES = List.copyOf(bounds);
    }

    private final Supplier<DiskStatistics> statistics;

    /** Replies with snapshots from {@code statistics}, e.g. {@code disk::statistics}. */
    public QueryStats(Supplier<DiskStatistics> statistics) {
        this.statistics = statistics;
    }

    @Override
    public Object execute(Map<String, Object> arguments) throws QmpException {
        new QmpArguments(arguments).noOthers();
        DiskStatistics d = statistics.get();
        Map<String, Object> reply = new LinkedHashMap<>();
        reply.put("disk", d.serial());
        reply.put("size", d.sizeBytes());
        reply.put("total", stats(d.total()));
        List<Object> queues = new ArrayList<>();
        for (QueueStatistics q : d.queues()) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("queue", (long) q.queue());
            entry.putAll(stats(q));
            queues.add(entry);
        }
        reply.put("queues", queues);
        return reply;
    }

    private static Map<String, Object> stats(QueueStatistics q) {
        Map<String, Object> requests = new LinkedHashMap<>();
        for (RequestKind kind : RequestKind.values()) {
            Map<String, Object> byStatus = new LinkedHashMap<>();
            for (RequestStatus status : RequestStatus.values()) {
                byStatus.put(status.label(), q.requests(kind, status));
            }
            requests.put(kind.label(), byStatus);
        }
        Map<String, Object> latency = new LinkedHashMap<>();
        for (LatencyClass c : LatencyClass.values()) {
            latency.put(c.label(), histogram(q.latency(c)));
        }
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("requests", requests);
        s.put("completed", q.completed());
        s.put("errors", q.requests(RequestStatus.IOERR));
        s.put("unsupported", q.requests(RequestStatus.UNSUPP));
        s.put("bytes_read", q.bytesRead());
        s.put("bytes_written", q.bytesWritten());
        s.put("dropped", q.dropped());
        s.put("in_flight", q.inFlight());
        s.put("latency", latency);
        return s;
    }

    private static Map<String, Object> histogram(LatencyHistogram h) {
        List<Object> bins = new ArrayList<>(LatencyHistogram.BUCKETS);
        for (int i = 0; i < LatencyHistogram.BUCKETS; i++) {
            bins.add(h.bin(i));
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("boundaries", BOUNDARIES);
        m.put("bins", bins);
        m.put("count", h.count());
        m.put("sum_ns", h.sumNanos());
        return m;
    }
}
