package dev.vublk.vhost;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

class InflightQueueTest {
    private static final int SIZE = 8;

    private static MemorySegment formatted(Arena arena) {
        MemorySegment region = arena.allocate(InflightQueue.regionBytes(SIZE), 64);
        InflightQueue.format(region, SIZE);
        return region;
    }

    @Test
    void requestsNotCompletedComeBackOldestFirst() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment region = formatted(arena);
            InflightQueue before = new InflightQueue(region, SIZE);
            before.taken(5);
            before.taken(2);
            before.taken(7);
            before.staged(2);
            before.published(1); // 2 completed and visible at used idx 1

            InflightQueue after = new InflightQueue(region, SIZE); // a new back-end process
            assertArrayEquals(new int[] {5, 7}, after.recover(1));
        }
    }

    @Test
    void aBatchPublishedButNotClearedIsRepairedFromTheUsedRing() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment region = formatted(arena);
            InflightQueue before = new InflightQueue(region, SIZE);
            for (int head : new int[] {0, 1, 2, 3}) {
                before.taken(head);
            }
            before.staged(1);
            before.staged(3);
            // crash here: the used ring already shows idx 2, but the flags were never cleared

            InflightQueue after = new InflightQueue(region, SIZE);
            assertArrayEquals(new int[] {0, 2}, after.recover(2));
            assertArrayEquals(new int[] {0, 2}, new InflightQueue(region, SIZE).recover(2)); // idempotent
        }
    }

    @Test
    void aBatchStagedButNotPublishedIsResubmitted() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment region = formatted(arena);
            InflightQueue before = new InflightQueue(region, SIZE);
            before.taken(4);
            before.taken(6);
            before.staged(6);
            // crash before the used idx store: the guest never saw 6 complete

            assertArrayEquals(new int[] {4, 6}, new InflightQueue(region, SIZE).recover(0));
        }
    }

    @Test
    void anAreaFormattedForAnotherQueueSizeIsNotTrusted() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            int[] fd = {-1};
            try (InflightArea area = InflightArea.create(2, SIZE, fd)) {
                assertNotNull(area.queue(1, SIZE));
                assertNull(area.queue(1, SIZE * 2));
                assertNull(area.queue(2, SIZE));
            } finally {
                dev.vublk.uring.Fds.closeQuietly(fd[0]);
            }
        }
    }
}
