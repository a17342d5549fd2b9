package dev.vublk.tests.e2e;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.tests.backend.BackendKind;
import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.BlkCompletion;
import dev.vublk.tests.frontend.BlkQueueDriver;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.GuestBuffer;
import dev.vublk.tests.frontend.GuestRam;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import dev.vublk.tests.frontend.VhostUserClient;
import dev.vublk.uring.Fds;
import dev.vublk.uring.MemFd;
import dev.vublk.vhost.MessageType;
import dev.vublk.vhost.Payloads;
import dev.vublk.vhost.ProtocolFeatures;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Live-migration dirty logging against our backend, in QEMU's message order: SET_LOG_BASE with a
 * memfd bitmap, SET_FEATURES with VHOST_F_LOG_ALL and SET_VRING_ADDR with the log flag while the
 * rings run; then exactly the guest pages the device wrote must be marked.
 */
class DirtyLogTest {
    private static final int PAGE = 4096;

    @TempDir
    Path dir;
    BackendFixture f;
    VhostUserBlkFrontend fe;
    BlkQueueDriver q;
    GuestRam ram;

    @BeforeEach
    void setUp() throws Exception {
        f = new BackendFixture(BackendKind.OURS_IN_PROCESS, dir);
        f.start(1);
        fe = f.open(FrontendOptions.qemu(1).withDirtyLog(true));
        q = fe.queue(0);
        ram = fe.ram();
    }

    @AfterEach
    void tearDown() throws Exception {
        f.close();
    }

    private static TreeSet<Long> dirtyPages(MemorySegment bits) {
        TreeSet<Long> pages = new TreeSet<>();
        for (long b = 0; b < bits.byteSize(); b++) {
            int v = bits.get(ValueLayout.JAVA_BYTE, b) & 0xff;
            for (int i = 0; i < 8; i++) {
                if ((v & (1 << i)) != 0) {
                    pages.add(b * 8 + i);
                }
            }
        }
        return pages;
    }

    private static void addPages(TreeSet<Long> set, long gpa, long length) {
        for (long p = gpa / PAGE; p <= (gpa + length - 1) / PAGE; p++) {
            set.add(p);
        }
    }

    /** Page-aligned, whole pages: nothing else shares them. */
    private GuestBuffer pages(int n) {
        return ram.allocate(n * PAGE, PAGE);
    }

    /** Reads, GET_ID and a write, as a guest would issue them; returns what the device must have dirtied. */
    private TreeSet<Long> traffic(List<GuestBuffer> writeSources) {
        byte[] pattern = Patterns.bytes(7, 3 * PAGE);
        GuestBuffer src = pages(3);
        writeSources.add(src);
        ram.write(src, pattern);
        List<BlkCompletion> done = new ArrayList<>();
        done.add(q.run(BlkCommand.write(8, src)));
        GuestBuffer one = pages(2);
        GuestBuffer a = pages(1);
        GuestBuffer b = pages(2);
        GuestBuffer id = pages(1);
        done.add(q.run(BlkCommand.read(8, one)));
        done.add(q.run(BlkCommand.read(8, a, b.slice(0, 2 * PAGE)))); // two buffers, three pages
        done.add(q.run(BlkCommand.getId(id)));
        done.add(q.run(BlkCommand.flush()));
        for (BlkCompletion c : done) {
            assertEquals(BlkCommand.S_OK, c.status(), "request type " + c.command().type());
        }
        assertArrayEquals(java.util.Arrays.copyOf(pattern, 2 * PAGE), ram.read(one));
        assertArrayEquals(java.util.Arrays.copyOfRange(pattern, 0, PAGE), ram.read(a));
        TreeSet<Long> expected = new TreeSet<>();
        for (GuestBuffer g : List.of(one, a, b, id)) {
            addPages(expected, g.gpa(), g.length());
        }
        for (BlkCompletion c : done) {
            addPages(expected, c.statusGpa(), 1);
        }
        addPages(expected, q.virtqueue().usedRingGpa(), q.virtqueue().usedRingBytes());
        return expected;
    }

    @Test
    void exactlyThePagesTheDeviceWroteAreMarked() {
        MemorySegment bits = fe.setDirtyLog();
        fe.logAll(true);
        bits.fill((byte) 0); // migration's first pass: everything is sent, the log starts clean
        List<GuestBuffer> sources = new ArrayList<>();
        TreeSet<Long> expected = traffic(sources);
        // The used ring is marked just after it is published: give the queue thread a moment.
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertEquals(expected, dirtyPages(bits)));
        for (GuestBuffer s : sources) {
            assertTrue(dirtyPages(bits).stream().noneMatch(p -> p >= s.gpa() / PAGE && p < (s.gpa() + s.length()) / PAGE),
                    "the source buffer of a write is not written by the device");
        }
        // The front-end clears bits as it sends pages; new writes mark them again.
        bits.fill((byte) 0);
        TreeSet<Long> again = traffic(sources);
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertEquals(again, dirtyPages(bits)));
    }

    @Test
    void withoutLogAllNothingIsMarked() {
        MemorySegment bits = fe.setDirtyLog();
        traffic(new ArrayList<>());
        q.flush();
        assertEquals(new TreeSet<Long>(), dirtyPages(bits));
        // On, then off again (the end of a migration): after that, nothing is marked any more.
        fe.logAll(true);
        traffic(new ArrayList<>());
        assertTrue(!dirtyPages(bits).isEmpty());
        fe.logAll(false);
        // Turning the flag off is not acked (QEMU waits only when turning it on): a request that
        // always replies makes sure the backend has applied it before the log is cleared.
        fe.client().getFeatures();
        bits.fill((byte) 0);
        traffic(new ArrayList<>());
        q.flush();
        assertEquals(new TreeSet<Long>(), dirtyPages(bits));
    }

    @Test
    void aNewLogReplacesTheOldOne() {
        fe.setDirtyLog();
        fe.logAll(true);
        MemorySegment second = fe.setDirtyLog(); // unmaps and closes the first on this side too
        second.fill((byte) 0);
        TreeSet<Long> expected = traffic(new ArrayList<>());
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertEquals(expected, dirtyPages(second)));
    }

    private static ByteBuffer logPayload(long size, long offset) {
        return ByteBuffer.allocate(Payloads.LOG).order(ByteOrder.LITTLE_ENDIAN).putLong(0, size).putLong(8, offset);
    }

    @Test
    void malformedLogBasesAreRefusedAndTheDeviceKeepsServing() throws Exception {
        VhostUserClient c = fe.client();
        assertTrue(ProtocolFeatures.has(c.protocolFeatures(), ProtocolFeatures.LOG_SHMFD));
        int memfd = MemFd.create("log", 2 * PAGE);
        try {
            // 64 MiB of guest RAM needs 2048 bytes of log.
            assertEquals(1, c.setLogBaseRaw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN), memfd)); // wrong size
            assertEquals(1, c.setLogBaseRaw(logPayload(2048, 0))); // no descriptor
            assertEquals(1, c.setLogBaseRaw(logPayload(1024, 0), memfd)); // too small for guest RAM
            assertEquals(1, c.setLogBaseRaw(logPayload(1L << 40, 0), memfd)); // huge
            assertEquals(1, c.setLogBaseRaw(logPayload(2048, 8), memfd)); // unaligned offset
            assertEquals(1, c.setLogBaseRaw(logPayload(2052, 0), memfd)); // not whole words
            assertEquals(1, c.setLogBaseRaw(logPayload(2 * PAGE, PAGE), memfd)); // past the end of the file
            assertEquals(1, c.setLogBaseRaw(logPayload(-8, 0), memfd));
            // SET_LOG_FD is not used by QEMU for vhost-user: refused.
            assertEquals(1, c.exchange(MessageType.SET_LOG_FD, null, true, memfd).u64());
            assertTrue(Fds.isOpen(memfd));
            BlkCompletion w = q.write(0, Patterns.bytes(3, PAGE));
            assertEquals(BlkCommand.S_OK, w.status());
            assertArrayEquals(Patterns.bytes(3, PAGE), q.read(0, PAGE).data());
            // A good one is still accepted afterwards.
            assertEquals(0, c.setLogBaseRaw(logPayload(2048, PAGE), memfd));
            assertThrows(RuntimeException.class, () -> c.setLogBase(16, 0, memfd));
        } finally {
            Fds.closeQuietly(memfd);
        }
        assertEquals(BlkCommand.S_OK, q.flush().status());
    }
}
