package dev.vublk.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.uring.Fds;
import dev.vublk.uring.MappedRegion;
import dev.vublk.uring.MemFd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import org.junit.jupiter.api.Test;

class DirtyLogTest {
    private static final long PAGE = DirtyLog.PAGE_SIZE;

    /** Pages set in the bitmap, read byte by byte in the front-end's order (byte n/8, bit n%8). */
    private static List<Long> setPages(MemorySegment bits) {
        List<Long> pages = new ArrayList<>();
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

    @Test
    void marksEveryPageARangeTouchesInByteBitOrder() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bits = arena.allocate(32, 8);
            DirtyLog log = DirtyLog.over(bits);
            log.mark(PAGE - 1, 2); // straddles pages 0 and 1
            log.mark(10 * PAGE, 1); // page 10: byte 1, bit 2
            log.mark(62 * PAGE + 5, 3 * PAGE); // pages 62..65: across a 64-bit word boundary
            log.mark(200 * PAGE, 0); // empty: nothing
            assertEquals(List.of(0L, 1L, 10L, 62L, 63L, 64L, 65L), setPages(bits));
            assertEquals(0x04, bits.get(ValueLayout.JAVA_BYTE, 1) & 0xff);
            assertTrue(log.isDirty(63 * PAGE + 4095));
            assertFalse(log.isDirty(66 * PAGE));
        }
    }

    @Test
    void aWholeWordAndMoreAtOnce() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bits = arena.allocate(32, 8);
            DirtyLog.over(bits).mark(3 * PAGE, 150 * PAGE); // pages 3..152
            List<Long> expected = new ArrayList<>();
            for (long p = 3; p <= 152; p++) {
                expected.add(p);
            }
            assertEquals(expected, setPages(bits));
        }
    }

    @Test
    void pagesPastTheLogAreSkippedNeverWritten() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment all = arena.allocate(24, 8);
            all.fill((byte) 0);
            MemorySegment bits = all.asSlice(8, 8); // 64 pages, guarded on both sides
            DirtyLog log = DirtyLog.over(bits);
            assertEquals(64, log.pages());
            log.mark(62 * PAGE, 10 * PAGE); // 62..71: only 62 and 63 exist
            log.mark(64 * PAGE, 1);
            log.mark(Long.MAX_VALUE - 10, 100); // wraps around
            log.mark(-PAGE, 2 * PAGE); // negative guest address
            assertEquals(List.of(62L, 63L), setPages(bits));
            assertEquals(0, all.get(ValueLayout.JAVA_LONG, 0));
            assertEquals(0, all.get(ValueLayout.JAVA_LONG, 16));
            assertFalse(log.isDirty(64 * PAGE));
            assertFalse(log.isDirty(-1));
        }
    }

    @Test
    void concurrentMarksLoseNoBitWhileTheFrontEndClearsOthers() throws Exception {
        int threads = 4;
        long pagesPerThread = 64 * 16;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment bits = arena.allocate(threads * pagesPerThread / 8 + 64, 8);
            DirtyLog log = DirtyLog.over(bits);
            CyclicBarrier start = new CyclicBarrier(threads + 1);
            List<Thread> ts = new ArrayList<>();
            // Thread t marks the pages p with p % threads == t: every word is shared by all threads.
            for (int t = 0; t < threads; t++) {
                int id = t;
                Thread th = new Thread(() -> {
                    try {
                        start.await();
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                    for (long p = id; p < threads * pagesPerThread; p += threads) {
                        log.mark(p * PAGE + 17, 1);
                    }
                });
                th.start();
                ts.add(th);
            }
            // The "front-end" keeps setting and clearing bits of the last word, outside the marked range.
            long guard = threads * pagesPerThread / 8;
            start.await();
            for (int i = 0; i < 100_000; i++) {
                bits.set(ValueLayout.JAVA_LONG, guard, i);
            }
            for (Thread th : ts) {
                th.join();
            }
            for (long w = 0; w < guard; w += 8) {
                assertEquals(-1L, bits.get(ValueLayout.JAVA_LONG, w), "word at byte " + w);
            }
        }
    }

    @Test
    void setLogBaseValidation() {
        long guestEnd = 64L << 20; // 16384 pages: 2048 bytes of log
        assertEquals(2048, DirtyLog.bytesFor(guestEnd));
        assertEquals(1, DirtyLog.bytesFor(1));
        assertNull(DirtyLog.problem(2048, 0, 4096, guestEnd));
        assertNull(DirtyLog.problem(4096, 4096, 8192, guestEnd));
        assertNotNull(DirtyLog.problem(2040, 0, 4096, guestEnd)); // too small for guest memory
        assertNotNull(DirtyLog.problem(2052, 0, 4096, guestEnd)); // not whole words
        assertNotNull(DirtyLog.problem(0, 0, 4096, guestEnd));
        assertNotNull(DirtyLog.problem(-8, 0, 4096, guestEnd));
        assertNotNull(DirtyLog.problem(DirtyLog.MAX_BYTES + 8, 0, Long.MAX_VALUE, guestEnd)); // huge
        assertNotNull(DirtyLog.problem(2048, 100, 8192, guestEnd)); // unaligned offset
        assertNotNull(DirtyLog.problem(2048, -4096, 8192, guestEnd));
        assertNotNull(DirtyLog.problem(4096, 0, 4095, guestEnd)); // past the end of the file
        assertNotNull(DirtyLog.problem(4096, 4096, 4096, guestEnd));
    }

    @Test
    void aMappedLogIsSharedWithTheFrontEndsMapping() throws Exception {
        int fd = MemFd.create("log", 8192);
        try (MappedRegion frontEnd = MappedRegion.map(fd, 0, 8192, true)) {
            assertNull(DirtyLog.fileProblem(fd, 4096, 4096, 1L << 20));
            assertNotNull(DirtyLog.fileProblem(fd, 8192, 4096, 1L << 20)); // the file is too short
            try (DirtyLog log = DirtyLog.map(fd, 4096, 4096)) {
                log.mark(9 * PAGE, 1);
            }
            assertEquals(0x02, frontEnd.segment().get(ValueLayout.JAVA_BYTE, 4096 + 1));
            assertEquals(List.of(4096L * 8 + 9), setPages(frontEnd.segment()));
        } finally {
            Fds.closeQuietly(fd);
        }
        assertThrows(IllegalArgumentException.class, () -> {
            try (Arena arena = Arena.ofConfined()) {
                DirtyLog.over(arena.allocate(12, 8));
            }
        });
    }
}
