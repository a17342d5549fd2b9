package dev.vublk.virtqueue.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.virtqueue.RingAccess;
import dev.vublk.virtqueue.RingLayout;

import java.lang.foreign.MemorySegment;
import java.util.List;

import org.junit.jupiter.api.Test;

class DriverQueueTest {
    @Test
    void layoutAndDescriptorBookkeeping() throws Exception {
        try (MockGuestMemory m = new MockGuestMemory(0, 0x10000)) {
            DriverQueue d = DriverQueue.createAt(m.memory(), 8, 0x1000, true);
            assertEquals(0x1000 + 8 * 16, d.availGpa());
            assertEquals(0, d.usedGpa() % 4);
            assertTrue(d.usedGpa() >= d.availGpa() + RingLayout.availRingBytes(8, true));
            assertEquals(d.usedGpa() - 0x1000 + RingLayout.usedRingBytes(8, true), DriverQueue.footprint(8, true));

            int head = d.submit(List.of(DriverBuffer.readable(0x8000, 16), DriverBuffer.writable(0x9000, 1)));
            assertEquals(6, d.freeDescriptors());
            MemorySegment desc = m.memory().translate(d.descGpa(), 8 * 16);
            long off = RingLayout.descOffset(head);
            assertEquals(0x8000, desc.get(RingAccess.U64_UNALIGNED, off));
            assertEquals(16, desc.get(RingAccess.U32_UNALIGNED, off + 8));
            assertEquals(RingLayout.DESC_F_NEXT, desc.get(RingAccess.U16_UNALIGNED, off + 12));
            int second = desc.get(RingAccess.U16_UNALIGNED, off + 14);
            assertEquals(RingLayout.DESC_F_WRITE, desc.get(RingAccess.U16_UNALIGNED, RingLayout.descOffset(second) + 12));
            MemorySegment avail = m.memory().translate(d.availGpa(), 6 + 16);
            assertEquals(1, RingAccess.loadU16(avail, 2));
            assertEquals(head, RingAccess.loadU16(avail, 4));

            assertThrows(IllegalStateException.class, () -> d.addChain(List.of(
                    DriverBuffer.readable(0, 1), DriverBuffer.readable(0, 1), DriverBuffer.readable(0, 1), DriverBuffer.readable(0, 1),
                    DriverBuffer.readable(0, 1), DriverBuffer.readable(0, 1), DriverBuffer.readable(0, 1))));
            assertThrows(IllegalArgumentException.class, () -> DriverQueue.createAt(m.memory(), 8, 0xfff0, true), "outside memory");
            assertThrows(IllegalArgumentException.class, () -> new DriverQueue(m.memory(), 8, 0x1008, 0x2000, 0x3000, true), "misaligned");
        }
    }
}
