package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.BlkRequestType.DISCARD;
import static dev.vublk.vhost.blk.BlkRequestType.FLUSH;
import static dev.vublk.vhost.blk.BlkRequestType.GET_ID;
import static dev.vublk.vhost.blk.BlkRequestType.IN;
import static dev.vublk.vhost.blk.BlkRequestType.OUT;
import static dev.vublk.vhost.blk.BlkRequestType.WRITE_ZEROES;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.virtqueue.DescriptorChain;
import dev.vublk.virtqueue.testing.DriverBuffer;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What the parser charges to the throttle for a popped chain, before the request starts: reads
 * and writes by their data bytes, everything else nothing, on a clock the test holds.
 */
class BlkRequestParserThrottleTest {
    private static final long T0 = 5_000_000_000L;
    private static final long MS = 1_000_000L;

    private BlkGuest guest;
    private ParseHarness harness;
    private DescriptorChain chain;

    @BeforeEach
    void setUp() throws Exception {
        guest = new BlkGuest(16, 8 << 20);
        MemoryWorker worker = new MemoryWorker(4 << 20, guest.mock.memory());
        BlkDevice device = new BlkDevice(new FakeImage(4 << 20, false, ring -> worker),
                new BlkDeviceOptions(1, 16, "s", 512, true));
        harness = new ParseHarness(device, worker, guest.mock.memory(), 16,
                guest.driver.descGpa(), guest.driver.availGpa(), guest.driver.usedGpa());
        chain = harness.queue.newChain();
    }

    @AfterEach
    void tearDown() {
        guest.close();
    }

    /** Offers the chain, pops it, and asks the throttle about it. */
    private long admit(List<DriverBuffer> buffers, Throttle throttle) {
        guest.submit(buffers);
        assertTrue(harness.queue.pop(chain) >= 0, "popped");
        long wait = harness.parser.admit(chain, throttle, T0);
        harness.queue.stageUsed(chain.head(), 0); // gives the descriptors back for the next request
        harness.queue.publishUsed();
        guest.driver.pollUsed();
        return wait;
    }

    private List<DriverBuffer> read(int buffers) {
        List<DriverBuffer> data = new java.util.ArrayList<>();
        for (int i = 0; i < buffers; i++) {
            data.add(DriverBuffer.writable(guest.data(512), 512));
        }
        return BlkGuest.request(guest.header(IN, 0), data, guest.status());
    }

    @Test
    void aReadIsChargedItsDataBytesAcrossAllBuffers() {
        Throttle t = Throttle.of(TestLimits.of("bps_rd", 1000), T0);
        assertEquals(0, admit(read(3), t));
        assertEquals(1_436 * MS, admit(read(1), t), "1536 bytes at 1000/s less the 100 ms bucket");
    }

    @Test
    void aWriteIsChargedTheBytesAfterItsHeader() {
        Throttle t = Throttle.of(TestLimits.of("bps_wr", 1000), T0);
        List<DriverBuffer> write = List.of(guest.header(OUT, 0), DriverBuffer.readable(guest.data(2048), 2048), guest.status());
        assertEquals(0, admit(write, t));
        assertEquals(0, admit(read(1), t), "reads are not limited by bps_wr");
        assertEquals(1_948 * MS, admit(List.of(guest.header(OUT, 8), DriverBuffer.readable(guest.data(512), 512),
                guest.status()), t), "2048 bytes at 1000/s less the 100 ms bucket");
    }

    @Test
    void onlyReadsAndWritesAreLimited() {
        Throttle t = Throttle.of(TestLimits.of("iops", 1), T0);
        assertEquals(0, admit(read(1), t), "the bucket was empty");
        assertEquals(900 * MS, admit(read(1), t), "full now");
        for (int i = 0; i < 3; i++) {
            assertEquals(0, admit(List.of(guest.header(FLUSH, 0), guest.status()), t));
            assertEquals(0, admit(List.of(guest.header(GET_ID, 0), DriverBuffer.writable(guest.data(20), 20), guest.status()), t));
            assertEquals(0, admit(List.of(guest.header(DISCARD, 0), guest.segments(new long[] {0, 8, 0}), guest.status()), t));
            assertEquals(0, admit(List.of(guest.header(WRITE_ZEROES, 0), guest.segments(new long[] {0, 8, 0}), guest.status()), t));
            assertEquals(0, admit(List.of(guest.header(99, 0), guest.status()), t), "an unknown type fails as UNSUPP, unlimited");
            assertEquals(0, admit(List.of(DriverBuffer.readable(guest.data(8), 8), guest.status()), t), "no header: refused, unlimited");
        }
        assertEquals(900 * MS, admit(read(1), t), "none of them was charged");
    }
}
