package dev.vublk.vhost.blk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.vhost.blk.RequestKind.LatencyClass;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/** The counters of one queue and the disk's snapshot of them, fed known completions and latencies. */
class QueueStatsTest {
    @Test
    void completionsCountByKindAndStatusWithBytesOnlyForSuccessfulReadsAndWrites() {
        QueueStats q = new QueueStats();
        for (int i = 0; i < 6; i++) {
            q.taken();
        }
        q.completed(RequestKind.READ, RequestStatus.OK, 4096, 1000);
        q.completed(RequestKind.READ, RequestStatus.IOERR, 512, 3000);
        q.completed(RequestKind.WRITE, RequestStatus.OK, 8192, 1 << 20);
        q.completed(RequestKind.DISCARD, RequestStatus.UNSUPP, 0, 2048);
        q.dropped(1);

        QueueStatistics s = q.snapshot(3);
        assertEquals(3, s.queue());
        assertEquals(1, s.requests(RequestKind.READ, RequestStatus.OK));
        assertEquals(1, s.requests(RequestKind.READ, RequestStatus.IOERR));
        assertEquals(2, s.requests(RequestKind.READ));
        assertEquals(1, s.requests(RequestKind.WRITE));
        assertEquals(1, s.requests(RequestKind.DISCARD, RequestStatus.UNSUPP));
        assertEquals(0, s.requests(RequestKind.FLUSH));
        assertEquals(1, s.requests(RequestStatus.IOERR));
        assertEquals(1, s.requests(RequestStatus.UNSUPP));
        assertEquals(4, s.completed());
        assertEquals(4096, s.bytesRead(), "the failed read's buffer is not counted");
        assertEquals(8192, s.bytesWritten());
        assertEquals(1, s.dropped());
        assertEquals(1, s.inFlight(), "6 taken, 4 completed, 1 dropped");

        LatencyHistogram reads = s.latency(LatencyClass.READ);
        assertEquals(1, reads.bin(0), "1000 ns <= 1024 ns");
        assertEquals(1, reads.bin(2), "3000 ns in (2048, 4096]");
        assertEquals(2, reads.count());
        assertEquals(4000, reads.sumNanos());
        LatencyHistogram writes = s.latency(LatencyClass.WRITE);
        assertEquals(1, writes.bin(10), "1 MiB ns is exactly the bound 2^20");
        assertEquals(1, writes.count());
        LatencyHistogram other = s.latency(LatencyClass.OTHER);
        assertEquals(1, other.bin(1), "the discard's 2048 ns");
        assertEquals(2048, other.sumNanos());
    }

    @Test
    void theDiskSnapshotListsEveryQueueAndAddsThemUp() {
        BlkStats stats = new BlkStats(3);
        stats.queue(0).taken();
        stats.queue(0).completed(RequestKind.FLUSH, RequestStatus.OK, 0, 500);
        stats.queue(2).taken();
        stats.queue(2).taken();
        stats.queue(2).completed(RequestKind.WRITE, RequestStatus.OK, 512, 5000);
        DiskStatistics d = stats.snapshot("disk-1", 1 << 20, IoLimits.NONE);

        assertEquals("disk-1", d.serial());
        assertEquals(1 << 20, d.sizeBytes());
        assertEquals(3, d.queues().size());
        assertEquals(0, d.queues().get(1).completed(), "a queue never started is listed with zeros");
        assertEquals(2, d.queues().get(2).queue());
        QueueStatistics t = d.total();
        assertEquals(-1, t.queue());
        assertEquals(1, t.requests(RequestKind.FLUSH));
        assertEquals(1, t.requests(RequestKind.WRITE));
        assertEquals(512, t.bytesWritten());
        assertEquals(1, t.inFlight());
        assertEquals(1, t.latency(LatencyClass.OTHER).bin(0));
        assertEquals(1, t.latency(LatencyClass.WRITE).bin(3), "5000 ns in (4096, 8192]");
        assertEquals("reads=0 writes=1 flushes=1 discards=0 write_zeroes=0 get_id=0 unknown=0 unsupported=0 errors=0"
                + " bytes_read=0 bytes_written=512 dropped=0 in_flight=1", stats.toString());
    }

    private static long allocatedBytes() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
    }

    /**
     * The queue thread records every request: that must not allocate. Passes repeat (at most 5)
     * until the JIT has compiled the path; the least a pass allocated counts. Not a timing: only
     * bytes are measured.
     */
    @Test
    void recordingARequestAllocatesNothing() {
        QueueStats q = new QueueStats();
        long least = Long.MAX_VALUE;
        for (int pass = 0; pass < 5 && least > 0; pass++) {
            long before = allocatedBytes();
            for (int i = 0; i < 200_000; i++) {
                q.taken();
                q.completed(RequestKind.of(i & 15), RequestStatus.of((byte) (i & 3)), 4096, i);
            }
            least = Math.min(least, allocatedBytes() - before);
        }
        // Under a byte per 10 requests: the JDK's own bookkeeping, not one object per request.
        assertTrue(least < 20_000, least + " bytes allocated by 200000 recorded requests");
        assertEquals(5 * 200_000, q.snapshot(0).completed() + q.snapshot(0).inFlight());
    }
}
