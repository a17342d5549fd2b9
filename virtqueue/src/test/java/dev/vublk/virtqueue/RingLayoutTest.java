package dev.vublk.virtqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class RingLayoutTest {
    @Test
    void needEventIsTrueExactlyWhenTheEventIndexWasCrossed() {
        // batch moved the index from 10 to 13: events 10, 11, 12 were crossed
        assertFalse(RingLayout.needEvent(9, 13, 10));
        assertTrue(RingLayout.needEvent(10, 13, 10));
        assertTrue(RingLayout.needEvent(12, 13, 10));
        assertFalse(RingLayout.needEvent(13, 13, 10), "event 13 is crossed only by the next element");
        assertFalse(RingLayout.needEvent(100, 13, 10));
        assertFalse(RingLayout.needEvent(12, 13, 13), "empty batch never notifies");
    }

    @Test
    void needEventWrapsAt16Bits() {
        assertTrue(RingLayout.needEvent(65535, 2, 65534), "batch 65534..1 crosses 65535");
        assertTrue(RingLayout.needEvent(0, 2, 65534));
        assertTrue(RingLayout.needEvent(1, 2, 65534));
        assertFalse(RingLayout.needEvent(2, 2, 65534));
        assertFalse(RingLayout.needEvent(65533, 2, 65534));
        // exhaustive cross-check against the interval definition for a few windows
        for (int old = 65530; old < 65540; old++) {
            for (int n = 0; n < 8; n++) {
                int newIdx = (old + n) & 0xffff;
                for (int ev = 65520; ev < 65560; ev++) {
                    boolean inBatch = ((ev - old) & 0xffff) < n;
                    assertEquals(inBatch, RingLayout.needEvent(ev & 0xffff, newIdx, old & 0xffff), old + "/" + n + "/" + ev);
                }
            }
        }
    }

    @Test
    void offsetsFollowTheSpec() {
        assertEquals(16 * 256, RingLayout.descTableBytes(256));
        assertEquals(6 + 2 * 256, RingLayout.availRingBytes(256, true));
        assertEquals(4 + 2 * 256, RingLayout.availRingBytes(256, false));
        assertEquals(6 + 8 * 256, RingLayout.usedRingBytes(256, true));
        assertEquals(4 + 2 * 256, RingLayout.usedEventOffset(256));
        assertEquals(4 + 8 * 256, RingLayout.availEventOffset(256));
        assertEquals(4 + 8 * 3, RingLayout.usedElemOffset(3));
        assertTrue(RingLayout.isValidQueueSize(32768));
        assertFalse(RingLayout.isValidQueueSize(65536));
        assertFalse(RingLayout.isValidQueueSize(0));
        assertFalse(RingLayout.isValidQueueSize(96));
    }
}
