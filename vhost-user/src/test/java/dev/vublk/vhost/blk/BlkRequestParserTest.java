package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.BlkRequestType.DISCARD;
import static dev.vublk.vhost.blk.BlkRequestType.FLUSH;
import static dev.vublk.vhost.blk.BlkRequestType.GET_ID;
import static dev.vublk.vhost.blk.BlkRequestType.IN;
import static dev.vublk.vhost.blk.BlkRequestType.OUT;
import static dev.vublk.vhost.blk.BlkRequestType.S_IOERR;
import static dev.vublk.vhost.blk.BlkRequestType.S_OK;
import static dev.vublk.vhost.blk.BlkRequestType.S_UNSUPP;
import static dev.vublk.vhost.blk.BlkRequestType.WRITE_ZEROES;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.vhost.blk.ParseHarness.Completion;
import dev.vublk.virtqueue.testing.DriverBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The parser against a mock driver queue and a synchronous in-memory worker: exact status bytes,
 * used lengths, data, and the operations that reached the worker (none for a refused request).
 */
class BlkRequestParserTest {
    private static final int QUEUE_SIZE = 16;
    /** seg_max for a queue size of 16: room for the header and status descriptors. */
    private static final int SEG_MAX = 14;
    private static final int DISK = 4 << 20;

    private BlkGuest guest;
    private MemoryWorker worker;
    private ParseHarness harness;

    @BeforeEach
    void setUp() throws Exception {
        guest = new BlkGuest(QUEUE_SIZE, 8 << 20);
        worker = new MemoryWorker(DISK, guest.mock.memory());
        BlkDevice device = new BlkDevice(new FakeImage(DISK, false, ring -> worker),
                new BlkDeviceOptions(1, QUEUE_SIZE, "serial-1", 512, true));
        assertEquals(SEG_MAX, device.segMax());
        harness = new ParseHarness(device, worker, guest.mock.memory(), QUEUE_SIZE,
                guest.driver.descGpa(), guest.driver.availGpa(), guest.driver.usedGpa());
    }

    @AfterEach
    void tearDown() {
        guest.close();
    }

    private List<DriverBuffer> buffers(int count, int bytes, boolean writable) {
        List<DriverBuffer> list = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            long at = guest.data(bytes);
            list.add(writable ? DriverBuffer.writable(at, bytes) : DriverBuffer.readable(at, bytes));
        }
        return list;
    }

    /** Runs one request and returns its completion, after checking the status byte in guest memory. */
    private Completion run(int head, DriverBuffer status) {
        harness.runAvailable();
        assertEquals(1, harness.completions.size(), "one completion");
        Completion c = harness.completions.getFirst();
        assertEquals(head, c.head());
        assertEquals(c.status(), guest.statusAt(status), "status byte in guest memory");
        return c;
    }

    @Test
    void readFillsTheGuestBuffers() {
        byte[] pattern = new byte[1024];
        Arrays.fill(pattern, (byte) 0x5a);
        System.arraycopy(pattern, 0, worker.disk, 4096, 1024);
        List<DriverBuffer> data = buffers(2, 512, true);
        DriverBuffer status = guest.status();
        int head = guest.submit(BlkGuest.request(guest.header(IN, 8), data, status));
        assertEquals(new Completion(head, S_OK, 1025), run(head, status));
        assertArrayEquals(Arrays.copyOf(pattern, 512), guest.mock.read(data.get(0).gpa(), 512));
        assertArrayEquals(Arrays.copyOf(pattern, 512), guest.mock.read(data.get(1).gpa(), 512));
        assertEquals(List.of("read 4096+1024"), worker.ops);
    }

    @Test
    void writeThroughAnIndirectTableIsFlushedWhileTheDriverHasNoFlushFeature() {
        List<DriverBuffer> data = buffers(3, 512, false);
        for (int i = 0; i < 3; i++) {
            byte[] b = new byte[512];
            Arrays.fill(b, (byte) (i + 1));
            guest.mock.write(data.get(i).gpa(), b);
        }
        DriverBuffer status = guest.status();
        int head = guest.submitIndirect(BlkGuest.request(guest.header(OUT, 2), data, status));
        assertEquals(new Completion(head, S_OK, 1), run(head, status));
        assertEquals(List.of("write 1024+1536", "flush"), worker.ops);
        assertEquals(3, worker.disk[1024 + 1024]);
    }

    @Test
    void getIdAndFlush() {
        DriverBuffer id = DriverBuffer.writable(guest.data(20), 20);
        DriverBuffer status = guest.status();
        int head = guest.submit(List.of(guest.header(GET_ID, 0), id, status));
        assertEquals(new Completion(head, S_OK, 21), run(head, status));
        assertArrayEquals(Arrays.copyOf("serial-1".getBytes(StandardCharsets.UTF_8), 20), guest.mock.read(id.gpa(), 20));
        harness.completions.clear();
        DriverBuffer flushStatus = guest.status();
        int flush = guest.submit(List.of(guest.header(FLUSH, 0), flushStatus));
        assertEquals(new Completion(flush, S_OK, 1), run(flush, flushStatus));
        assertEquals(List.of("flush"), worker.ops);
    }

    @Test
    void segMaxDataSegmentsAreServed() {
        DriverBuffer status = guest.status();
        List<DriverBuffer> data = new ArrayList<>(buffers(SEG_MAX, 512, true));
        data.add(DriverBuffer.writable(guest.data(512), 0)); // zero-length: carries no data, not a segment
        int head = guest.submitIndirect(BlkGuest.request(guest.header(IN, 0), data, status));
        assertEquals(new Completion(head, S_OK, SEG_MAX * 512 + 1), run(head, status));
        assertEquals(List.of("read 0+" + SEG_MAX * 512), worker.ops);
    }

    @Test
    void moreDataSegmentsThanSegMaxFailWithIoerr() {
        DriverBuffer status = guest.status();
        int head = guest.submitIndirect(BlkGuest.request(guest.header(IN, 0), buffers(SEG_MAX + 1, 512, true), status));
        assertEquals(new Completion(head, S_IOERR, 1), run(head, status));
        assertEquals(List.of(), worker.ops, "nothing reached the image");
    }

    @Test
    void moreWriteSegmentsThanSegMaxFailWithIoerr() {
        DriverBuffer status = guest.status();
        int head = guest.submitIndirect(BlkGuest.request(guest.header(OUT, 0), buffers(SEG_MAX + 1, 512, false), status));
        assertEquals(new Completion(head, S_IOERR, 1), run(head, status));
        assertEquals(List.of(), worker.ops);
    }

    @Test
    void aSegmentOfSizeMaxIsServed() {
        DriverBuffer status = guest.status();
        int head = guest.submit(BlkGuest.request(guest.header(IN, 0), buffers(1, BlkConfig.MAX_SEGMENT_BYTES, true), status));
        assertEquals(new Completion(head, S_OK, BlkConfig.MAX_SEGMENT_BYTES + 1), run(head, status));
    }

    @Test
    void aSegmentLargerThanSizeMaxFailsWithIoerr() {
        DriverBuffer status = guest.status();
        int head = guest.submit(BlkGuest.request(guest.header(OUT, 0), buffers(1, BlkConfig.MAX_SEGMENT_BYTES + 512, false), status));
        assertEquals(new Completion(head, S_IOERR, 1), run(head, status));
        assertEquals(List.of(), worker.ops);
    }

    @Test
    void aSizeMaxSegmentSharingTheStatusDescriptorIsServed() {
        // Any layout: data and status in one writable descriptor; only the data bytes count.
        long at = guest.data(BlkConfig.MAX_SEGMENT_BYTES + 1);
        guest.mock.write(at + BlkConfig.MAX_SEGMENT_BYTES, new byte[] {BlkGuest.UNTOUCHED});
        DriverBuffer both = DriverBuffer.writable(at, BlkConfig.MAX_SEGMENT_BYTES + 1);
        int head = guest.submit(List.of(guest.header(IN, 0), both));
        harness.runAvailable();
        assertEquals(List.of(new Completion(head, S_OK, BlkConfig.MAX_SEGMENT_BYTES + 1)), harness.completions);
        assertEquals(S_OK, guest.mock.read(at + BlkConfig.MAX_SEGMENT_BYTES, 1)[0]);
    }

    @Test
    void discardOfMaxSegmentsIsServedOneMoreIsIoerr() {
        long[][] segs = new long[BlkConfig.MAX_DISCARD_SEGMENTS + 1][];
        for (int i = 0; i < segs.length; i++) {
            segs[i] = new long[] {i * 8L, 8, 0};
        }
        DriverBuffer status = guest.status();
        int head = guest.submit(List.of(guest.header(DISCARD, 0), guest.segments(Arrays.copyOf(segs, segs.length - 1)), status));
        assertEquals(new Completion(head, S_OK, 1), run(head, status));
        assertEquals(BlkConfig.MAX_DISCARD_SEGMENTS, worker.ops.size());
        harness.completions.clear();
        worker.ops.clear();
        DriverBuffer status2 = guest.status();
        int head2 = guest.submit(List.of(guest.header(DISCARD, 0), guest.segments(segs), status2));
        assertEquals(new Completion(head2, S_IOERR, 1), run(head2, status2));
        assertEquals(List.of(), worker.ops);
    }

    @Test
    void writeZeroesSegmentLimits() {
        DriverBuffer tooLong = guest.status();
        int head = guest.submit(List.of(guest.header(WRITE_ZEROES, 0),
                guest.segments(new long[] {0, BlkConfig.MAX_ZERO_SECTORS + 1L, 0}), tooLong));
        assertEquals(new Completion(head, S_IOERR, 1), run(head, tooLong));
        harness.completions.clear();
        DriverBuffer unknownFlag = guest.status();
        int head2 = guest.submit(List.of(guest.header(WRITE_ZEROES, 0), guest.segments(new long[] {0, 8, 2}), unknownFlag));
        assertEquals(new Completion(head2, S_UNSUPP, 1), run(head2, unknownFlag));
        harness.completions.clear();
        DriverBuffer ok = guest.status();
        int head3 = guest.submit(List.of(guest.header(WRITE_ZEROES, 0), guest.segments(new long[] {8, 8, 1}), ok));
        assertEquals(new Completion(head3, S_OK, 1), run(head3, ok));
        assertEquals(List.of("write-zeroes 4096+4096 unmap"), worker.ops);
    }

    @Test
    void readPastTheCapacityIsIoerr() {
        DriverBuffer status = guest.status();
        int head = guest.submit(BlkGuest.request(guest.header(IN, DISK / 512 - 1), buffers(1, 1024, true), status));
        assertEquals(new Completion(head, S_IOERR, 1), run(head, status));
        assertEquals(List.of(), worker.ops);
    }

    @Test
    void aShortHeaderIsIoerrAndAChainWithoutStatusIsDiscarded() {
        DriverBuffer status = guest.status();
        int head = guest.submit(List.of(DriverBuffer.readable(guest.data(8), 8), status));
        assertEquals(new Completion(head, S_IOERR, 1), run(head, status));
        int noStatus = guest.submit(List.of(guest.header(FLUSH, 0)));
        harness.runAvailable();
        assertEquals(List.of(noStatus), harness.discarded);
        assertEquals(List.of(), worker.ops);
    }
}
