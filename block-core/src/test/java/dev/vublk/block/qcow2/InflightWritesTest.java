package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class InflightWritesTest {
    @Test
    void contiguousRangesShareASlotOthersGetTheirOwn() {
        InflightWrites w = new InflightWrites();
        w.add(-1, 65536, 131072);
        int run = w.lastSlot();
        w.add(run, 131072, 196608); // contiguous: same slot, longer range
        assertEquals(run, w.lastSlot());
        w.add(run, 1 << 20, (1 << 20) + 4096); // a gap: new slot
        int other = w.lastSlot();
        assertNotEquals(run, other);
        assertTrue(w.overlaps(190000, 200000));
        assertTrue(w.overlaps((1 << 20) + 4095, 1 << 21));
        assertFalse(w.overlaps(0, 65536));
        assertFalse(w.overlaps(196608, 1 << 20));
        w.remove(run);
        assertFalse(w.overlaps(65536, 196608));
        assertTrue(w.overlaps(1 << 20, (1 << 20) + 1));
        w.remove(other);
        assertFalse(w.overlaps(0, Long.MAX_VALUE));
    }

    /** An optimistic lookup that failed validation takes its registration back, extension or new slot. */
    @Test
    void undoAddRestoresAnExtendedRangeOrFreesANewSlot() {
        InflightWrites w = new InflightWrites();
        w.add(-1, 65536, 131072);
        int run = w.lastSlot();
        w.add(run, 131072, 196608);
        w.undoAdd(run, 131072);
        assertTrue(w.overlaps(131071, 131072), "the range it extended stays");
        assertFalse(w.overlaps(131072, 196608), "the extension is gone");
        w.add(run, 1 << 20, (1 << 20) + 4096); // not contiguous: a new slot
        int other = w.lastSlot();
        assertNotEquals(run, other);
        w.undoAdd(run, 1 << 20);
        assertFalse(w.overlaps(1 << 20, (1 << 20) + 4096), "the new slot is free again");
        assertTrue(w.overlaps(65536, 65537));
        w.add(-1, 1 << 22, (1 << 22) + 512);
        assertEquals(other, w.lastSlot(), "the freed slot is the next one taken");
    }

    @Test
    void growsPastItsInitialSlotsAndReusesFreedOnes() {
        InflightWrites w = new InflightWrites();
        List<Integer> slots = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            w.add(-1, i * 8192L, i * 8192L + 4096);
            slots.add(w.lastSlot());
        }
        assertEquals(100, slots.stream().distinct().count());
        for (int i = 0; i < 100; i++) {
            assertTrue(w.overlaps(i * 8192L, i * 8192L + 1), "range " + i);
            assertFalse(w.overlaps(i * 8192L + 4096, i * 8192L + 8192), "gap " + i);
        }
        for (int i = 0; i < 100; i += 2) {
            w.remove(slots.get(i));
        }
        for (int i = 0; i < 100; i++) {
            assertEquals(i % 2 == 1, w.overlaps(i * 8192L, i * 8192L + 4096), "range " + i);
        }
        w.add(-1, 1L << 40, (1L << 40) + 512);
        assertTrue(slots.contains(w.lastSlot()), "a freed slot is reused");
    }
}
