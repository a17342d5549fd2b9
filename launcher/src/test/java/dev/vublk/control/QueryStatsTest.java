package dev.vublk.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vublk.vhost.blk.BlkStats;
import dev.vublk.vhost.blk.DiskStatistics;
import dev.vublk.vhost.blk.IoLimits;
import dev.vublk.vhost.blk.RequestKind;
import dev.vublk.vhost.blk.RequestStatus;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The reply tree of query-stats over statistics fed known completions and latencies. */
class QueryStatsTest {
    private static final long MIB = 1 << 20;

    private static DiskStatistics statistics() {
        BlkStats stats = new BlkStats(2);
        var q0 = stats.queue(0);
        var q1 = stats.queue(1);
        for (int i = 0; i < 3; i++) {
            q0.taken();
        }
        q0.completed(RequestKind.READ, RequestStatus.OK, 4096, 1024);      // bin 0
        q0.completed(RequestKind.READ, RequestStatus.IOERR, 4096, 1025);   // bin 1
        q1.taken();
        q1.taken();
        q1.completed(RequestKind.WRITE, RequestStatus.OK, 512, 1L << 35); // bin 25, the last bounded one
        q1.completed(RequestKind.GET_ID, RequestStatus.OK, 0, (1L << 35) + 1); // bin 26, unbounded
        q1.taken();
        q1.completed(RequestKind.UNKNOWN, RequestStatus.UNSUPP, 0, 0);
        return stats.snapshot("disk-a", 64 * MIB, IoLimits.NONE);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o) {
        return (Map<String, Object>) o;
    }

    private static List<Long> bins(long... nonZero) {
        List<Long> bins = new ArrayList<>(Collections.nCopies(27, 0L));
        for (int i = 0; i < nonZero.length; i += 2) {
            bins.set((int) nonZero[i], nonZero[i + 1]);
        }
        return bins;
    }

    @Test
    void theTreeHasTotalsAndEveryQueueWithCountsBytesAndHistograms() throws QmpException {
        Map<String, Object> reply = map(new QueryStats(QueryStatsTest::statistics).execute(Map.of()));
        assertEquals(List.of("disk", "size", "total", "queues"), List.copyOf(reply.keySet()));
        assertEquals("disk-a", reply.get("disk"));
        assertEquals(64 * MIB, reply.get("size"));

        Map<String, Object> total = map(reply.get("total"));
        assertEquals(List.of("requests", "completed", "errors", "unsupported", "bytes_read", "bytes_written",
                "dropped", "in_flight", "latency"), List.copyOf(total.keySet()));
        Map<String, Object> requests = map(total.get("requests"));
        assertEquals(List.of("read", "write", "flush", "discard", "write_zeroes", "get_id", "unknown"),
                List.copyOf(requests.keySet()));
        assertEquals(Map.of("ok", 1L, "ioerr", 1L, "unsupp", 0L), requests.get("read"));
        assertEquals(Map.of("ok", 1L, "ioerr", 0L, "unsupp", 0L), requests.get("write"));
        assertEquals(Map.of("ok", 0L, "ioerr", 0L, "unsupp", 1L), requests.get("unknown"));
        assertEquals(5L, total.get("completed"));
        assertEquals(1L, total.get("errors"));
        assertEquals(1L, total.get("unsupported"));
        assertEquals(4096L, total.get("bytes_read"), "the failed read's bytes do not count");
        assertEquals(512L, total.get("bytes_written"));
        assertEquals(0L, total.get("dropped"));
        assertEquals(1L, total.get("in_flight"));

        Map<String, Object> read = map(map(total.get("latency")).get("read"));
        List<?> boundaries = (List<?>) read.get("boundaries");
        assertEquals(26, boundaries.size());
        assertEquals(1024L, boundaries.getFirst());
        assertEquals(1L << 35, boundaries.getLast());
        assertEquals(bins(0, 1, 1, 1), read.get("bins"));
        assertEquals(2L, read.get("count"));
        assertEquals(2049L, read.get("sum_ns"));
        Map<String, Object> other = map(map(total.get("latency")).get("other"));
        assertEquals(bins(0, 1, 26, 1), other.get("bins"), "get-id past 34 s and the unknown type at 0 ns");

        List<?> queues = (List<?>) reply.get("queues");
        assertEquals(2, queues.size());
        Map<String, Object> q0 = map(queues.get(0));
        Map<String, Object> q1 = map(queues.get(1));
        assertEquals(0L, q0.get("queue"));
        assertEquals(1L, q1.get("queue"));
        assertEquals(1L, q0.get("in_flight"), "3 taken, 2 completed");
        assertEquals(0L, q1.get("in_flight"));
        assertEquals(4096L, q0.get("bytes_read"));
        assertEquals(0L, q1.get("bytes_read"));
        assertEquals(bins(25, 1), map(map(q1.get("latency")).get("write")).get("bins"));
        assertEquals(bins(), map(map(q0.get("latency")).get("write")).get("bins"));
        assertEquals(Map.of("ok", 1L, "ioerr", 0L, "unsupp", 0L), map(q1.get("requests")).get("get_id"));
    }

    @Test
    void anArgumentIsAGenericError() {
        QmpException e = assertThrows(QmpException.class,
                () -> new QueryStats(QueryStatsTest::statistics).execute(Map.of("device", "x")));
        assertEquals(QmpException.GENERIC, e.errorClass());
        assertEquals("Parameter 'device' is unexpected", e.getMessage());
    }
}
