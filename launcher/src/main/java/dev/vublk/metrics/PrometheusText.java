package dev.vublk.metrics;

import dev.vublk.vhost.blk.DiskStatistics;
import dev.vublk.vhost.blk.IoLimits;
import dev.vublk.vhost.blk.LatencyHistogram;
import dev.vublk.vhost.blk.QueueStatistics;
import dev.vublk.vhost.blk.RequestKind;
import dev.vublk.vhost.blk.RequestKind.LatencyClass;
import dev.vublk.vhost.blk.RequestStatus;
import java.math.BigDecimal;
import java.util.function.ToLongFunction;

/**
 * A disk's statistics in the Prometheus text exposition format, version 0.0.4. Every series
 * carries {@code disk} (the serial); per-queue series carry {@code queue}, one per configured
 * queue (a total is {@code sum by (disk)}). The families:
 * <ul>
 * <li>{@code vublk_disk_size_bytes} gauge</li>
 * <li>{@code vublk_requests_total} counter, by {@code type} (read, write, flush, discard,
 *     write_zeroes, get_id, unknown) and {@code status} (ok, ioerr, unsupp)</li>
 * <li>{@code vublk_read_bytes_total}, {@code vublk_written_bytes_total} counters</li>
 * <li>{@code vublk_dropped_requests_total} counter: malformed descriptor chains, and requests
 *     in flight on a queue that failed</li>
 * <li>{@code vublk_requests_in_flight} gauge</li>
 * <li>{@code vublk_request_duration_seconds} histogram by {@code type} (read, write, other):
 *     buckets at 2^10 ... 2^35 ns</li>
 * <li>{@code vublk_limit_iops}, {@code vublk_limit_iops_max}, {@code vublk_limit_bytes_per_second},
 *     {@code vublk_limit_bytes_per_second_max} gauges by {@code type} (total, read, write):
 *     the I/O limits, 0 when unlimited</li>
 * </ul>
 */
public final class PrometheusText {
    /** The Content-Type of this format. */
    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
    private static final String[] LIMIT_TYPES = {"total", "read", "write"};

    private final StringBuilder out = new StringBuilder(64 * 1024);
    private final String disk;

    private PrometheusText(String disk) {
        this.disk = label("disk", disk);
    }

    /** The whole exposition of {@code d}. */
    public static String render(DiskStatistics d) {
        PrometheusText t = new PrometheusText(d.serial());
        t.family("vublk_disk_size_bytes", "gauge", "Size of the disk as the guest sees it.");
        t.sample("vublk_disk_size_bytes", "", d.sizeBytes());
        t.family("vublk_requests_total", "counter", "Requests completed, by type and by the status the guest got.");
        for (QueueStatistics q : d.queues()) {
            for (RequestKind kind : RequestKind.values()) {
                for (RequestStatus status : RequestStatus.values()) {
                    t.sample("vublk_requests_total", queue(q) + "," + label("type", kind.label()) + ","
                            + label("status", status.label()), q.requests(kind, status));
                }
            }
        }
        t.perQueue(d, "vublk_read_bytes_total", "counter", "Bytes of reads that succeeded.", QueueStatistics::bytesRead);
        t.perQueue(d, "vublk_written_bytes_total", "counter", "Bytes of writes that succeeded.", QueueStatistics::bytesWritten);
        t.perQueue(d, "vublk_dropped_requests_total", "counter",
                "Requests that never got a status: malformed chains, or in flight on a queue that failed.", QueueStatistics::dropped);
        t.perQueue(d, "vublk_requests_in_flight", "gauge", "Requests taken from the ring and not completed yet.",
                QueueStatistics::inFlight);
        t.family("vublk_request_duration_seconds", "histogram",
                "Time from the queue taking a request to completing it, by type: read, write, other.");
        for (QueueStatistics q : d.queues()) {
            for (LatencyClass c : LatencyClass.values()) {
                t.histogram("vublk_request_duration_seconds", queue(q) + "," + label("type", c.label()), q.latency(c));
            }
        }
        IoLimits l = d.limits();
        t.limits("vublk_limit_iops", "I/O operations per second allowed (0: unlimited).", l.iops(), l.iopsRd(), l.iopsWr());
        t.limits("vublk_limit_iops_max", "Burst I/O operations per second allowed (0: no burst).",
                l.iopsMax(), l.iopsRdMax(), l.iopsWrMax());
        t.limits("vublk_limit_bytes_per_second", "Bytes per second allowed (0: unlimited).", l.bps(), l.bpsRd(), l.bpsWr());
        t.limits("vublk_limit_bytes_per_second_max", "Burst bytes per second allowed (0: no burst).",
                l.bpsMax(), l.bpsRdMax(), l.bpsWrMax());
        return t.out.toString();
    }

    private void perQueue(DiskStatistics d, String name, String type, String help,
                          ToLongFunction<QueueStatistics> value) {
        family(name, type, help);
        for (QueueStatistics q : d.queues()) {
            sample(name, queue(q), value.applyAsLong(q));
        }
    }

    private void limits(String name, String help, long total, long read, long write) {
        family(name, "gauge", help);
        long[] values = {total, read, write};
        for (int i = 0; i < values.length; i++) {
            sample(name, label("type", LIMIT_TYPES[i]), values[i]);
        }
    }

    /** Cumulative buckets up to {@code +Inf}, then the sum in seconds and the count. */
    private void histogram(String name, String labels, LatencyHistogram h) {
        long cumulative = 0;
        for (int i = 0; i < LatencyHistogram.BUCKETS; i++) {
            cumulative += h.bin(i);
            String le = i < LatencyHistogram.BOUNDS ? seconds(LatencyHistogram.boundNanos(i)) : "+Inf";
            sample(name + "_bucket", labels + "," + label("le", le), cumulative);
        }
        line(name + "_sum", labels, seconds(h.sumNanos()));
        sample(name + "_count", labels, cumulative);
    }

    private void family(String name, String type, String help) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private void sample(String name, String labels, long value) {
        line(name, labels, Long.toString(value));
    }

    private void line(String name, String labels, String value) {
        out.append(name).append('{').append(disk);
        if (!labels.isEmpty()) {
            out.append(',').append(labels);
        }
        out.append("} ").append(value).append('\n');
    }

    private static String queue(QueueStatistics q) {
        return label("queue", Integer.toString(q.queue()));
    }

    /** Nanoseconds as exact decimal seconds: the bounds are whole nanoseconds. */
    static String seconds(long nanos) {
        return BigDecimal.valueOf(nanos, 9).stripTrailingZeros().toPlainString();
    }

    /** {@code name="value"} with the format's escapes: backslash, double quote, line feed. */
    static String label(String name, String value) {
        StringBuilder b = new StringBuilder(name.length() + value.length() + 3).append(name).append("=\"");
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '\\' -> b.append("\\\\");
                case '"' -> b.append("\\\"");
                case '\n' -> b.append("\\n");
                default -> b.append(c);
            }
        }
        return b.append('"').toString();
    }
}
