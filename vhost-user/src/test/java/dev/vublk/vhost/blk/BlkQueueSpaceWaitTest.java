package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.BlkRequestType.FLUSH;
import static dev.vublk.vhost.blk.BlkRequestType.IN;
import static dev.vublk.vhost.blk.BlkRequestType.OUT;
import static dev.vublk.vhost.blk.BlkRequestType.S_IOERR;
import static dev.vublk.vhost.blk.BlkRequestType.S_OK;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.block.BlockWorker;
import dev.vublk.uring.Errno;
import dev.vublk.uring.EventFd;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoVecArray;
import dev.vublk.vhost.TestVrings;
import dev.vublk.vhost.Vring;
import dev.vublk.virtqueue.testing.DriverBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A queue over a disk without space: what {@link EnospcPolicy} makes of writes that fail with
 * ENOSPC or EDQUOT. The worker fails every write and flush with {@link #errno} while it is set,
 * inside the call, and lets reads through; retries come every 10 ms, so the tests wait on
 * outcomes (attempt counts, statuses), never on durations.
 */
class BlkQueueSpaceWaitTest {
    private static final int QUEUE_SIZE = 16;
    private static final Duration RETRY = Duration.ofMillis(10);

    /** Fails changes with {@code errno} while it is not 0; counts the attempts. */
    static final class FullDiskWorker implements BlockWorker {
        volatile int errno = -Errno.ENOSPC;
        final AtomicInteger writes = new AtomicInteger();
        final AtomicInteger reads = new AtomicInteger();
        volatile long lastWriteOffset = -1;
        volatile long lastWriteBytes = -1;

        @Override
        public void read(long offset, IoVecArray buffers, IoCompletion done, long tag) {
            reads.incrementAndGet();
            done.complete(tag, (int) buffers.totalBytes());
        }

        @Override
        public void write(long offset, IoVecArray buffers, IoCompletion done, long tag) {
            lastWriteOffset = offset;
            lastWriteBytes = buffers.totalBytes();
            writes.incrementAndGet();
            int e = errno;
            done.complete(tag, e != 0 ? e : (int) buffers.totalBytes());
        }

        @Override
        public void flush(IoCompletion done, long tag) {
            done.complete(tag, errno);
        }

        @Override public void discard(long offset, long length, IoCompletion done, long tag) { done.complete(tag, errno); }

        @Override public void writeZeroes(long offset, long length, boolean unmap, IoCompletion done, long tag) { done.complete(tag, errno); }
    }

    private final FullDiskWorker worker = new FullDiskWorker();
    /** What the disk's I/O error listener heard (the control socket's BLOCK_IO_ERROR). */
    private final List<String> events = new java.util.concurrent.CopyOnWriteArrayList<>();
    private BlkGuest guest;
    private Vring vring;
    private EventFd kick;
    private BlkDisk disk;
    private BlkDevice device;

    @BeforeEach
    void setUp() throws Exception {
        disk = new BlkDisk(new FakeImage(1 << 20, false, ring -> worker), new BlkDeviceOptions(1, QUEUE_SIZE, "s", 512, true));
        device = disk.newDevice();
        disk.setIoErrorListener((write, errno, held) -> events.add((write ? "write " : "read ") + Errno.name(errno)
                + (held ? " stop" : " report")));
        guest = new BlkGuest(QUEUE_SIZE, 4 << 20);
        kick = EventFd.create();
        vring = TestVrings.configured(0, guest.driver, kick, EventFd.create().fd(), EventFd.create(EventFd.EFD_NONBLOCK).fd());
        device.startQueue(vring, guest.mock.memory());
    }

    @AfterEach
    void tearDown() throws Exception {
        worker.errno = 0; // a failed assertion may leave a write held
        stop();
        TestVrings.release(vring);
        guest.close();
    }

    private int stop() throws Exception {
        CompletableFuture.runAsync(() -> device.stopQueue(vring)).get(20, TimeUnit.SECONDS);
        return vring.base();
    }

    private DriverBuffer submit(int type, long sector, int bytes) throws Exception {
        DriverBuffer status = guest.status();
        if (type == FLUSH) {
            guest.submit(List.of(guest.header(type, sector), status));
        } else {
            guest.submit(List.of(guest.header(type, sector),
                    type == IN ? DriverBuffer.writable(guest.data(bytes), bytes) : DriverBuffer.readable(guest.data(bytes), bytes),
                    status));
        }
        kick.write(1);
        return status;
    }

    private void awaitUsed(int used) throws InterruptedException {
        HoldingWorker.await("used index " + used, () -> guest.driver.deviceUsedIdx() == used);
    }

    private QueueStatistics stats() {
        return disk.statistics().queues().get(0);
    }

    @Test
    void reportFailsTheWriteAtOnce() throws Exception {
        DriverBuffer w = submit(OUT, 8, 4096);
        DriverBuffer again = submit(OUT, 16, 4096);
        awaitUsed(2);
        assertEquals(S_IOERR, guest.statusAt(w));
        assertEquals(S_IOERR, guest.statusAt(again));
        assertEquals(2, worker.writes.get(), "never tried again");
        assertEquals(2, stats().requests(RequestKind.WRITE, RequestStatus.IOERR));
        assertEquals(List.of("write ENOSPC report"), events, "one event a second at most");
    }

    @Test
    void waitRetriesTheWriteUntilSpaceReturnsWhileOtherRequestsGoOn() throws Exception {
        disk.setEnospcPolicy(new EnospcPolicy(EnospcPolicy.Action.WAIT, RETRY, Duration.ofMinutes(10)));
        DriverBuffer w = submit(OUT, 8, 4096);
        HoldingWorker.await("the write is tried again", () -> worker.writes.get() >= 3);
        DriverBuffer r = submit(IN, 0, 512);
        awaitUsed(1);
        assertEquals(S_OK, guest.statusAt(r), "a read on the same queue is not held up");
        assertEquals(BlkGuest.UNTOUCHED, guest.statusAt(w), "the write is still held");
        assertEquals(1, stats().inFlight());

        worker.errno = 0; // space returns
        awaitUsed(2);
        assertEquals(S_OK, guest.statusAt(w));
        assertEquals(4096, worker.lastWriteOffset, "each retry is the guest's request, walked again from its chain");
        assertEquals(4096, worker.lastWriteBytes);
        assertEquals(1, stats().requests(RequestKind.WRITE, RequestStatus.OK));
        assertEquals(0, stats().requests(RequestStatus.IOERR), "counted once, as it completed");
        assertEquals(List.of("write ENOSPC stop"), events, "one event as the queue starts holding, none per retry");
        assertEquals(2, stop(), "both requests consumed");
    }

    @Test
    void aQuotaIsWaitedForLikeAFullDiskAndAFlushLikeAWrite() throws Exception {
        disk.setEnospcPolicy(new EnospcPolicy(EnospcPolicy.Action.WAIT, RETRY, Duration.ofMinutes(10)));
        worker.errno = -Errno.EDQUOT;
        DriverBuffer f = submit(FLUSH, 0, 0);
        DriverBuffer w = submit(OUT, 0, 512);
        HoldingWorker.await("the write is tried again", () -> worker.writes.get() >= 2);
        assertEquals(BlkGuest.UNTOUCHED, guest.statusAt(f));
        worker.errno = 0;
        awaitUsed(2);
        assertEquals(S_OK, guest.statusAt(f));
        assertEquals(S_OK, guest.statusAt(w));
    }

    @Test
    void otherErrorsAreReportedAtOnceUnderWait() throws Exception {
        disk.setEnospcPolicy(new EnospcPolicy(EnospcPolicy.Action.WAIT, RETRY, Duration.ofMinutes(10)));
        worker.errno = -Errno.EIO;
        DriverBuffer w = submit(OUT, 0, 512);
        awaitUsed(1);
        assertEquals(S_IOERR, guest.statusAt(w));
        assertEquals(1, worker.writes.get());
        assertEquals(List.of("write EIO report"), events);
    }

    @Test
    void waitReportsTheWriteOnceItHasWaitedTheMaximum() throws Exception {
        // No wait at all: held once, and the first retry finds the bound passed.
        disk.setEnospcPolicy(new EnospcPolicy(EnospcPolicy.Action.WAIT, RETRY, Duration.ZERO));
        DriverBuffer w = submit(OUT, 8, 4096);
        awaitUsed(1);
        assertEquals(S_IOERR, guest.statusAt(w));
        assertEquals(2, worker.writes.get(), "the first attempt and one retry");
        assertEquals(1, stats().requests(RequestKind.WRITE, RequestStatus.IOERR));
        assertEquals(List.of("write ENOSPC stop", "write ENOSPC report"), events);
    }

    @Test
    void stoppingGivesAHeldWriteBackAsAnError() throws Exception {
        disk.setEnospcPolicy(new EnospcPolicy(EnospcPolicy.Action.WAIT, Duration.ofMinutes(1), Duration.ofMinutes(10)));
        DriverBuffer w = submit(OUT, 8, 4096);
        HoldingWorker.await("the write failed once", () -> worker.writes.get() == 1);
        assertEquals(1, stop(), "the stop does not wait a minute for the retry, nor forever for space");
        assertEquals(S_IOERR, guest.statusAt(w));
        assertEquals(1, guest.driver.deviceUsedIdx(), "used: the front-end has it back");
        assertEquals(2, worker.writes.get(), "tried once more on the way out");
        assertEquals(1, stats().requests(RequestKind.WRITE, RequestStatus.IOERR));
    }
    @Test
    void aQueueHoldingAWriteGoesQuietForAnImageChange() throws Exception {
        disk.setEnospcPolicy(new EnospcPolicy(EnospcPolicy.Action.WAIT, Duration.ofMinutes(1), Duration.ofMinutes(10)));
        DriverBuffer w = submit(OUT, 8, 4096);
        HoldingWorker.await("the write failed once", () -> worker.writes.get() == 1);
        assertEquals(true, Quiesces.changeWhileQuiesced(device, 20), "a held write has no I/O under way: the queue parks instead of making a resize wait");
        assertEquals(BlkGuest.UNTOUCHED, guest.statusAt(w), "and it is still held");
        assertEquals(0, stats().requests(RequestStatus.IOERR));
    }
}
