package dev.vublk.uring;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

@ExtendWith(NoFdLeaks.class)
class IoUringTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private final Random random = new Random(42);
    private Arena arena;
    private IoUring ring;
    private final Completions done = new Completions();

    @BeforeEach
    void open() throws NativeException {
        arena = Arena.ofShared();
        ring = new IoUring(64);
    }

    @AfterEach
    void close() {
        ring.close();
        arena.close();
    }

    private byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    private Path fileWith(byte[] content) throws IOException {
        Path p = dir.resolve("data-" + random.nextInt(1_000_000));
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.wrap(content);
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }
        return p;
    }

    private static byte[] readWithChannel(Path p, long offset, int length) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(length);
            while (b.hasRemaining() && ch.read(b, offset + b.position()) > 0) {
                // keep reading until full or end of file
            }
            return Arrays.copyOf(b.array(), b.position());
        }
    }

    private static byte[] bytes(MemorySegment s) {
        return s.toArray(ValueLayout.JAVA_BYTE);
    }

    private MemorySegment segmentWith(byte[] content) {
        MemorySegment s = arena.allocate(content.length);
        MemorySegment.copy(content, 0, s, ValueLayout.JAVA_BYTE, 0, content.length);
        return s;
    }

    @Test
    void readsMatchFileChannelByteForByte() throws IOException {
        byte[] content = randomBytes(MIB);
        Path p = fileWith(content);
        try (NativeFile f = NativeFile.open(p, false, false)) {
            int ops = 40;
            long[] offsets = new long[ops];
            MemorySegment[] bufs = new MemorySegment[ops];
            for (int i = 0; i < ops; i++) {
                int len = 1 + random.nextInt(64 * 1024);
                offsets[i] = random.nextInt(MIB - len);
                bufs[i] = arena.allocate(len);
                ring.read(f.fd(), bufs[i].address(), len, offsets[i], done, i);
            }
            ring.drain();
            for (int i = 0; i < ops; i++) {
                int len = (int) bufs[i].byteSize();
                done.assertResult(i, len);
                assertArrayEquals(readWithChannel(p, offsets[i], len), bytes(bufs[i]), "read " + i);
            }
        }
    }

    @Test
    void writesAreSeenByFileChannel() throws IOException {
        Path p = fileWith(new byte[0]);
        byte[] expected = new byte[256 * 1024];
        try (NativeFile f = NativeFile.open(p, true, false)) {
            for (int i = 0; i < 16; i++) {
                byte[] chunk = randomBytes(16 * 1024);
                System.arraycopy(chunk, 0, expected, i * chunk.length, chunk.length);
                ring.write(f.fd(), segmentWith(chunk).address(), chunk.length, (long) i * chunk.length, done, i);
            }
            ring.drain();
            for (int i = 0; i < 16; i++) {
                done.assertResult(i, 16 * 1024);
            }
            assertEquals(expected.length, f.size());
        }
        assertArrayEquals(expected, readWithChannel(p, 0, expected.length));
    }

    /** Three buffers in separate allocations, of sizes that straddle no page or alignment pattern. */
    private IoVecArray scattered(MemorySegment... parts) {
        IoVecArray iov = new IoVecArray(arena, parts.length);
        for (MemorySegment s : parts) {
            assertTrue(iov.add(s.address(), s.byteSize()));
        }
        return iov;
    }

    @Test
    void readvScattersIntoSeparateSegments() throws IOException {
        byte[] content = randomBytes(MIB);
        Path p = fileWith(content);
        MemorySegment a = arena.allocate(1000), b = arena.allocate(4096), c = arena.allocate(7);
        IoVecArray iov = scattered(a, b, c);
        long offset = 12345;
        try (NativeFile f = NativeFile.open(p, false, false)) {
            ring.readv(f.fd(), iov, offset, done, 1);
            ring.drain();
        }
        done.assertResult(1, 1000 + 4096 + 7);
        assertArrayEquals(Arrays.copyOfRange(content, 12345, 13345), bytes(a));
        assertArrayEquals(Arrays.copyOfRange(content, 13345, 17441), bytes(b));
        assertArrayEquals(Arrays.copyOfRange(content, 17441, 17448), bytes(c));
    }

    @Test
    void writevGathersFromSeparateSegments() throws IOException {
        byte[] original = randomBytes(64 * 1024);
        Path p = fileWith(original);
        byte[] x = randomBytes(3000), y = randomBytes(5), z = randomBytes(9000);
        IoVecArray iov = scattered(segmentWith(x), segmentWith(y), segmentWith(z));
        try (NativeFile f = NativeFile.open(p, true, false)) {
            ring.writev(f.fd(), iov, 777, done, 2);
            ring.drain();
        }
        done.assertResult(2, 12005);
        byte[] expected = original.clone();
        System.arraycopy(x, 0, expected, 777, x.length);
        System.arraycopy(y, 0, expected, 777 + 3000, y.length);
        System.arraycopy(z, 0, expected, 777 + 3005, z.length);
        assertArrayEquals(expected, readWithChannel(p, 0, expected.length));
    }

    @Test
    void oneSubmitCarriesManyOperationsAndOneWaitDeliversManyCompletions() throws NativeException {
        for (int i = 0; i < 64; i++) {
            ring.nop(done, i);
        }
        assertEquals(64, ring.inFlight());
        assertEquals(64, ring.submit());
        // NOPs complete inside the submit call, so every completion is ready for one wait.
        assertEquals(64, ring.submitAndWait());
        assertEquals(64, done.count());
        assertEquals(0, ring.inFlight());
    }

    @Test
    void waitingWithNothingInFlightReturnsAtOnce() throws NativeException {
        assertEquals(0, ring.submitAndWait());
        assertEquals(0, ring.processCompletions());
        assertEquals(0, ring.submit());
    }

    @Test
    void nopCompletesWithZeroAndItsTag() throws NativeException {
        ring.nop(done, 0x1234_5678_9abcL);
        ring.drain();
        done.assertResult(0x1234_5678_9abcL, 0);
    }

    @Test
    void fsyncAndFdatasyncComplete() throws IOException {
        Path p = fileWith(randomBytes(8192));
        try (NativeFile f = NativeFile.open(p, true, false)) {
            MemorySegment data = segmentWith(randomBytes(4096));
            ring.write(f.fd(), data.address(), 4096, 0, done, 1);
            ring.drain();
            ring.fsync(f.fd(), false, done, 2);
            ring.fsync(f.fd(), true, done, 3);
            ring.drain();
            done.assertResult(1, 4096);
            done.assertResult(2, 0);
            done.assertResult(3, 0);
            assertArrayEquals(bytes(data), readWithChannel(p, 0, 4096));
        }
    }

    @Test
    void fallocatePunchHoleFreesSpaceAndReadsZero() throws IOException {
        byte[] content = randomBytes(MIB);
        Path p = fileWith(content);
        try (NativeFile f = NativeFile.open(p, true, false)) {
            f.fsync();
            long before = f.allocatedBytes();
            assertTrue(before >= MIB, "allocated " + before);
            ring.fallocate(f.fd(), NativeFile.FALLOC_FL_PUNCH_HOLE | NativeFile.FALLOC_FL_KEEP_SIZE,
                    256 * 1024, 512 * 1024, done, 7);
            ring.drain();
            done.assertResult(7, 0);
            assertTrue(f.allocatedBytes() <= before - 512 * 1024, "allocated after punch " + f.allocatedBytes());
            assertEquals(MIB, f.size());
        }
        byte[] expected = content.clone();
        Arrays.fill(expected, 256 * 1024, 768 * 1024, (byte) 0);
        assertArrayEquals(expected, readWithChannel(p, 0, MIB));
    }

    @Test
    void fallocateZeroRangeReadsZeroAndKeepsSize() throws IOException {
        byte[] content = randomBytes(MIB);
        Path p = fileWith(content);
        try (NativeFile f = NativeFile.open(p, true, false)) {
            ring.fallocate(f.fd(), NativeFile.FALLOC_FL_ZERO_RANGE | NativeFile.FALLOC_FL_KEEP_SIZE,
                    100_000, 300_000, done, 8);
            ring.drain();
            done.assertResult(8, 0);
            assertEquals(MIB, f.size());
        }
        byte[] expected = content.clone();
        Arrays.fill(expected, 100_000, 400_000, (byte) 0);
        assertArrayEquals(expected, readWithChannel(p, 0, MIB));
    }

    @Test
    void eventFdReadCompletesWhenAnotherThreadWrites() throws Exception {
        try (EventFd event = EventFd.create()) {
            MemorySegment counter = arena.allocate(8, 8);
            ring.read(event.fd(), counter.address(), 8, 0, done, 5);
            ring.submit();
            assertEquals(0, ring.processCompletions(), "read completed before anything was written");
            assertEquals(1, ring.inFlight());
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    Thread.sleep(100);
                    event.write(41);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            assertEquals(1, ring.submitAndWait());
            writer.get(5, TimeUnit.SECONDS);
            done.assertResult(5, 8);
            assertEquals(41, counter.get(ValueLayout.JAVA_LONG, 0));
        }
    }

    /**
     * An O_NONBLOCK descriptor (QEMU creates its kick eventfds that way) answers EAGAIN instead of
     * waiting: the ring must wait for it to become ready, not spin resubmitting the read.
     */
    @Test
    void nonBlockingEventFdReadWaitsWithoutSpinning() throws Exception {
        try (EventFd event = EventFd.create(EventFd.EFD_NONBLOCK)) {
            MemorySegment counter = arena.allocate(8, 8);
            ring.read(event.fd(), counter.address(), 8, 0, done, 5);
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    Thread.sleep(500);
                    event.write(12);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            ThreadMXBean threads = ManagementFactory.getThreadMXBean();
            long cpuBefore = threads.getCurrentThreadCpuTime();
            ring.drain();
            long cpuNanos = threads.getCurrentThreadCpuTime() - cpuBefore;
            writer.get(5, TimeUnit.SECONDS);
            done.assertResult(5, 8);
            assertEquals(12, counter.get(ValueLayout.JAVA_LONG, 0));
            assertTrue(cpuNanos < 50_000_000L, "the waiting thread used " + cpuNanos / 1_000_000 + " ms of CPU");
        }
    }

    @Test
    void pollAddReportsEventFdReadable() throws NativeException {
        try (EventFd event = EventFd.create()) {
            ring.pollAdd(event.fd(), IoUring.POLLIN, done, 9);
            ring.submit();
            assertEquals(0, ring.processCompletions(), "poll fired on an empty eventfd");
            event.write(1);
            ring.drain();
            assertTrue((done.result(9) & IoUring.POLLIN) != 0, "poll mask " + done.result(9));
            assertEquals(1, event.read(), "poll must not consume the counter");
        }
    }

    @Test
    void farMoreOperationsThanTheSubmissionQueueHoldsAllComplete() throws IOException {
        byte[] content = randomBytes(1000 * 4096);
        Path p = fileWith(content);
        try (IoUring small = new IoUring(8); NativeFile f = NativeFile.open(p, false, false)) {
            assertEquals(8, small.submissionEntries());
            MemorySegment buf = arena.allocate(1000 * 4096L);
            for (int i = 0; i < 1000; i++) {
                small.read(f.fd(), buf.address() + 4096L * i, 4096, 4096L * i, done, i);
            }
            for (int i = 1000; i < 2000; i++) {
                small.nop(done, i);
            }
            small.drain();
            assertEquals(0, small.inFlight());
            assertEquals(2000, done.count());
            for (int i = 0; i < 1000; i++) {
                done.assertResult(i, 4096);
            }
            for (int i = 1000; i < 2000; i++) {
                done.assertResult(i, 0);
            }
            assertArrayEquals(content, bytes(buf));
        }
    }

    @Test
    void handlersMayPrepareFurtherOperations() throws NativeException {
        int[] chained = {0};
        IoCompletion next = new IoCompletion() {
            @Override
            public void complete(long tag, int result) {
                assertEquals(0, result);
                chained[0]++;
                if (tag < 499) {
                    try {
                        ring.nop(this, tag + 1);
                    } catch (NativeException e) {
                        throw new AssertionError(e);
                    }
                }
            }
        };
        ring.nop(next, 0);
        ring.drain();
        assertEquals(500, chained[0]);
    }

    @Test
    void readPastEndOfFileReturnsTheBytesUpToEnd() throws IOException {
        byte[] content = randomBytes(10_000);
        Path p = fileWith(content);
        MemorySegment buf = arena.allocate(8192);
        MemorySegment a = arena.allocate(1500), b = arena.allocate(1500);
        try (NativeFile f = NativeFile.open(p, false, false)) {
            ring.read(f.fd(), buf.address(), 8192, 8000, done, 1);
            ring.readv(f.fd(), scattered(a, b), 8000, done, 2);
            ring.read(f.fd(), buf.address(), 100, 20_000, done, 3);
            ring.drain();
        }
        done.assertResult(1, 2000);
        assertArrayEquals(Arrays.copyOfRange(content, 8000, 10_000), bytes(buf.asSlice(0, 2000)));
        done.assertResult(2, 2000);
        assertArrayEquals(Arrays.copyOfRange(content, 8000, 9500), bytes(a));
        assertArrayEquals(Arrays.copyOfRange(content, 9500, 10_000), bytes(b.asSlice(0, 500)));
        done.assertResult(3, 0);
    }

    /** A socket read returns what has arrived so far; the ring must ask again for the rest. */
    @Test
    void shortSocketReadIsResubmittedForTheRest() throws Exception {
        Path sock = dir.resolve("s");
        byte[] message = randomBytes(3000);
        MemorySegment source = segmentWith(message);
        try (UnixListener listener = UnixListener.listen(sock, 1);
             UnixSocket client = UnixSocket.connect(sock);
             UnixSocket server = listener.accept()) {
            client.send(source.asSlice(0, 1000), 1000);
            MemorySegment a = arena.allocate(500), b = arena.allocate(2500);
            MemorySegment whole = arena.allocate(3000);
            ring.readv(server.fd(), scattered(a, b), 0, done, 1);
            ring.submit();
            // The first 1000 bytes are consumed by a short read that the ring resubmits.
            assertEquals(0, ring.processCompletions());
            assertEquals(1, ring.inFlight());
            client.send(source.asSlice(1000, 2000), 2000);
            ring.drain();
            done.assertResult(1, 3000);
            assertArrayEquals(Arrays.copyOfRange(message, 0, 500), bytes(a));
            assertArrayEquals(Arrays.copyOfRange(message, 500, 3000), bytes(b));

            client.send(source.asSlice(0, 100), 100);
            ring.read(server.fd(), whole.address(), 3000, 0, done, 2);
            ring.submit();
            assertEquals(0, ring.processCompletions());
            client.send(source.asSlice(100, 2900), 2900);
            ring.drain();
            done.assertResult(2, 3000);
            assertArrayEquals(message, bytes(whole));
        }
    }

    /** A socket takes only what fits in its buffer; the ring keeps writing while the peer reads. */
    @Test
    void largeSocketWriteCompletesWhileThePeerDrainsIt() throws Exception {
        Path sock = dir.resolve("w");
        byte[] message = randomBytes(4 * MIB);
        MemorySegment source = segmentWith(message);
        try (UnixListener listener = UnixListener.listen(sock, 1);
             UnixSocket client = UnixSocket.connect(sock);
             UnixSocket server = listener.accept()) {
            CompletableFuture<byte[]> reader = CompletableFuture.supplyAsync(() -> {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment in = a.allocate(message.length);
                    server.receiveFully(in, message.length);
                    return bytes(in);
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            ring.write(client.fd(), source.address(), message.length, 0, done, 1);
            ring.drain();
            done.assertResult(1, message.length);
            assertArrayEquals(message, reader.get(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void closedDescriptorGivesEbadfAndTheRingCarriesOn() throws IOException {
        EventFd gone = EventFd.create();
        int fd = gone.fd();
        gone.close();
        MemorySegment buf = arena.allocate(8);
        ring.read(fd, buf.address(), 8, 0, done, 1);
        ring.write(fd, buf.address(), 8, 0, done, 2);
        ring.fsync(fd, false, done, 3);
        ring.drain();
        done.assertResult(1, -Errno.EBADF);
        done.assertResult(2, -Errno.EBADF);
        done.assertResult(3, -Errno.EBADF);

        byte[] content = randomBytes(4096);
        Path p = fileWith(content);
        try (NativeFile f = NativeFile.open(p, false, false)) {
            MemorySegment page = arena.allocate(4096);
            ring.read(f.fd(), page.address(), 4096, 0, done, 4);
            ring.write(f.fd(), page.address(), 4096, 0, done, 5); // opened read-only
            ring.drain();
            done.assertResult(4, 4096);
            done.assertResult(5, -Errno.EBADF);
            assertArrayEquals(content, bytes(page));
        }
    }

    @Test
    void drainWaitsForEverythingInFlight() throws Exception {
        try (EventFd event = EventFd.create()) {
            MemorySegment counter = arena.allocate(8, 8);
            ring.read(event.fd(), counter.address(), 8, 0, done, 1);
            for (int i = 2; i < 50; i++) {
                ring.nop(done, i);
            }
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    Thread.sleep(50);
                    event.write(3);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            ring.drain();
            writer.get(5, TimeUnit.SECONDS);
            assertEquals(0, ring.inFlight());
            assertEquals(49, done.count());
            done.assertResult(1, 8);
            assertEquals(3, counter.get(ValueLayout.JAVA_LONG, 0));
        }
        ring.drain(); // nothing in flight: returns at once
    }

    @Test
    void singleIssuerRingWorksFromItsCreatingThread() throws Exception {
        byte[] content = randomBytes(256 * 1024);
        Path p = fileWith(content);
        try (IoUring owned = new IoUring(16, true);
             NativeFile f = NativeFile.open(p, true, false);
             EventFd event = EventFd.create()) {
            MemorySegment buf = arena.allocate(content.length);
            for (int i = 0; i < 64; i++) {
                owned.read(f.fd(), buf.address() + 4096L * i, 4096, 4096L * i, done, i);
            }
            owned.drain();
            for (int i = 0; i < 64; i++) {
                done.assertResult(i, 4096);
            }
            assertArrayEquals(content, bytes(buf));

            MemorySegment fresh = segmentWith(randomBytes(4096));
            owned.write(f.fd(), fresh.address(), 4096, 8192, done, 100);
            owned.fsync(f.fd(), true, done, 101);
            owned.drain();
            done.assertResult(100, 4096);
            done.assertResult(101, 0);
            assertArrayEquals(bytes(fresh), readWithChannel(p, 8192, 4096));

            // Deferred completion work runs when the owner waits: a read woken from elsewhere still arrives.
            MemorySegment counter = arena.allocate(8, 8);
            owned.read(event.fd(), counter.address(), 8, 0, done, 200);
            owned.submit();
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    event.write(6);
                } catch (NativeException e) {
                    throw new RuntimeException(e);
                }
            });
            owned.drain();
            writer.get(5, TimeUnit.SECONDS);
            done.assertResult(200, 8);
            assertEquals(6, counter.get(ValueLayout.JAVA_LONG, 0));
        }
    }
}
