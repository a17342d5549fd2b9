package dev.vublk.virtqueue;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.virtqueue.testing.MockGuestMemory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class GuestMemoryTest {
    private static final long A = 0x1000, A_SIZE = 0x2000;      // [0x1000, 0x3000)
    private static final long B = 0x3000, B_SIZE = 0x1000;      // [0x3000, 0x4000), adjacent to A
    private static final long C = 0x10000, C_SIZE = 0x1000;     // after a hole

    private final List<AutoCloseable> closing = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closing) {
            c.close();
        }
    }

    private MockGuestMemory mock(long... pairs) throws GuestMemoryException {
        MockGuestMemory m = new MockGuestMemory(pairs);
        closing.add(m);
        return m;
    }

    private MockGuestMemory threeRegions() throws GuestMemoryException {
        return mock(A, A_SIZE, B, B_SIZE, C, C_SIZE);
    }

    @Test
    void translatesAtRegionEdges() throws Exception {
        MockGuestMemory m = threeRegions();
        GuestMemory mem = m.memory();
        GuestRegion a = mem.regionAt(A);
        assertEquals(A, a.guestAddress());

        MemorySegment first = mem.translate(A, 1);
        assertEquals(a.segment().address(), first.address());
        MemorySegment whole = mem.translate(A, A_SIZE);
        assertEquals(A_SIZE, whole.byteSize());
        MemorySegment last = mem.translate(A + A_SIZE - 1, 1);
        assertEquals(a.segment().address() + A_SIZE - 1, last.address());
        assertEquals(a.segment().address() + 0x10, mem.hostAddress(A + 0x10, 0x20));

        assertNull(mem.translate(A - 1, 1), "byte before the first region");
        assertNull(mem.translate(A - 1, 2), "range starting in the hole");
        assertNull(mem.translate(A + A_SIZE - 1, 2), "crossing the region end is not one slice");
        assertNull(mem.translate(C + C_SIZE, 1), "byte after the last region");
        assertNull(mem.translate(0x5000, 1), "hole between regions");
        assertNull(mem.translate(A, -1));
        assertNull(mem.translate(-8, 4), "top-bit address");
        assertNull(mem.translate(A, Long.MAX_VALUE));
        assertEquals(-1, mem.hostAddress(A + A_SIZE - 1, 2));
        assertEquals(-1, mem.hostAddress(0x5000, 1));
    }

    @Test
    void translatedSliceSeesRegionBytes() throws Exception {
        MockGuestMemory m = threeRegions();
        m.write(C + 5, new byte[] {1, 2, 3});
        MemorySegment s = m.memory().translate(C + 4, 5);
        assertEquals(0, s.get(ValueLayout.JAVA_BYTE, 0));
        assertEquals(1, s.get(ValueLayout.JAVA_BYTE, 1));
        assertEquals(3, s.get(ValueLayout.JAVA_BYTE, 3));
        assertThrows(IndexOutOfBoundsException.class, () -> s.get(ValueLayout.JAVA_BYTE, 5), "slice is bounded");
    }

    @Test
    void rangeAcrossAdjacentRegionsComesInPieces() throws Exception {
        MockGuestMemory m = threeRegions();
        GuestMemory mem = m.memory();
        long start = A + A_SIZE - 0x10;
        List<long[]> pieces = new ArrayList<>();
        int n = mem.forEachPiece(start, 0x30, (addr, len) -> pieces.add(new long[] {addr, len}));
        assertEquals(2, n);
        assertEquals(2, mem.countPieces(start, 0x30));
        assertEquals(mem.regionAt(A).segment().address() + A_SIZE - 0x10, pieces.get(0)[0]);
        assertEquals(0x10, pieces.get(0)[1]);
        assertEquals(mem.regionAt(B).segment().address(), pieces.get(1)[0]);
        assertEquals(0x20, pieces.get(1)[1]);
        assertTrue(mem.isMapped(A, A_SIZE + B_SIZE), "A and B together");

        byte[] data = new byte[0x30];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i + 1);
        }
        m.write(start, data);
        assertArrayEquals(data, m.read(start, data.length));
        // the bytes really went to two different host allocations
        assertEquals(0x10, mem.regionAt(A).segment().get(ValueLayout.JAVA_BYTE, A_SIZE - 1));
        assertEquals(0x11, mem.regionAt(B).segment().get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void rangeIntoAHoleIsRejectedWithoutCallingTheConsumer() throws Exception {
        GuestMemory mem = threeRegions().memory();
        int[] calls = {0};
        PieceConsumer counting = (addr, len) -> ++calls[0] > 0;
        // A+B is mapped up to 0x4000; one more byte falls into the hole before C.
        assertEquals(GuestMemory.UNMAPPED, mem.forEachPiece(A, A_SIZE + B_SIZE + 1, counting));
        assertEquals(GuestMemory.UNMAPPED, mem.forEachPiece(B + B_SIZE - 1, 2, counting));
        assertEquals(GuestMemory.UNMAPPED, mem.forEachPiece(C - 1, 2, counting), "starting in the hole");
        assertEquals(GuestMemory.UNMAPPED, mem.forEachPiece(C, C_SIZE + 1, counting), "past the last region");
        assertEquals(GuestMemory.UNMAPPED, mem.forEachPiece(A, -1, counting));
        assertEquals(0, calls[0]);
        assertFalse(mem.isMapped(B + B_SIZE - 1, 2));
        assertEquals(GuestMemory.UNMAPPED, mem.countPieces(B, B_SIZE + 1));
        assertFalse(mem.read(C - 1, Arena.ofAuto().allocate(2), 0, 2));
        assertEquals(0, mem.forEachPiece(0x5000, 0, counting), "empty range is trivially fine");
    }

    @Test
    void consumerCanStopTheWalk() throws Exception {
        GuestMemory mem = threeRegions().memory();
        int[] calls = {0};
        assertEquals(GuestMemory.ABORTED, mem.forEachPiece(A, A_SIZE + 8, (addr, len) -> ++calls[0] > 1));
        assertEquals(1, calls[0]);
    }

    @Test
    void bytesAndUserAddresses() throws Exception {
        MockGuestMemory m = threeRegions();
        GuestMemory mem = m.memory();
        assertTrue(mem.putByte(B + 7, (byte) 0xab));
        assertEquals(0xab, mem.getByte(B + 7));
        assertFalse(mem.putByte(0x5000, (byte) 1));
        assertEquals(-1, mem.getByte(0x5000));

        long uva = MockGuestMemory.USER_BASE + C + 0x100;
        MemorySegment viaUser = mem.translateUser(uva, 0x20);
        assertEquals(mem.translate(C + 0x100, 0x20).address(), viaUser.address());
        assertEquals(C + 0x100, mem.userToGuest(uva));
        assertNull(mem.translateUser(MockGuestMemory.USER_BASE + C + C_SIZE - 4, 8), "crosses the region end");
        assertNull(mem.translateUser(MockGuestMemory.USER_BASE, 1), "below every region");
        assertEquals(-1, mem.userToGuest(MockGuestMemory.USER_BASE + 0x5000));
    }

    @Test
    void overlappingRegionsAreRejected() throws Exception {
        MockGuestMemory m = mock(A, A_SIZE);
        GuestMemory mem = m.memory();
        GuestMemoryException e = assertThrows(GuestMemoryException.class, () -> mem.withRegion(m.region(A + A_SIZE - 1, 0x1000)));
        assertTrue(e.getMessage().contains("overlap"), e.getMessage());
        assertThrows(GuestMemoryException.class, () -> mem.withRegion(m.region(A - 0x800, 0x1000)));
        assertThrows(GuestMemoryException.class, () -> mem.withRegion(m.region(A + 0x100, 0x100)), "contained");

        GuestRegion sameUser = new GuestRegion(0x100000, 0x1000, MockGuestMemory.USER_BASE + A, 0, m.region(0, 0x1000).segment());
        e = assertThrows(GuestMemoryException.class, () -> mem.withRegion(sameUser));
        assertTrue(e.getMessage().contains("frontend-virtual overlap"), e.getMessage());
    }

    @Test
    void malformedRegionsAreRejected() throws Exception {
        MockGuestMemory m = mock(A, A_SIZE);
        MemorySegment seg = m.region(0, 0x1000).segment();
        assertThrows(GuestMemoryException.class, () -> GuestMemory.of(List.of(new GuestRegion(0, 0x2000, 0, 0, seg))), "segment smaller than region");
        assertThrows(GuestMemoryException.class, () -> GuestMemory.of(List.of(new GuestRegion(0, 0, 0, 0, seg.asSlice(0, 0)))), "empty");
        assertThrows(GuestMemoryException.class, () -> GuestMemory.of(List.of(new GuestRegion(Long.MAX_VALUE - 10, 0x1000, 0, 0, seg))), "wraps");
        assertThrows(GuestMemoryException.class, () -> GuestMemory.of(List.of(new GuestRegion(-4096, 0x1000, 0, 0, seg))), "top-bit gpa");
        assertThrows(GuestMemoryException.class, () -> GuestMemory.of(List.of(new GuestRegion(0, 0x1000, 0, 0, MemorySegment.ofArray(new byte[0x1000])))), "heap");
    }

    @Test
    void regionCountIsBounded() throws Exception {
        MemorySegment seg = Arena.ofAuto().allocate(16);
        List<GuestRegion> regions = new ArrayList<>();
        for (int i = 0; i < GuestMemory.MAX_REGIONS; i++) {
            regions.add(new GuestRegion(i * 16L, 16, i * 16L, 0, seg));
        }
        GuestMemory full = GuestMemory.of(regions);
        assertEquals(GuestMemory.MAX_REGIONS, full.regionCount());
        // all regions are adjacent: one range spans every one of them
        assertEquals(GuestMemory.MAX_REGIONS, full.countPieces(0, 16L * GuestMemory.MAX_REGIONS));
        GuestMemoryException e = assertThrows(GuestMemoryException.class,
                () -> full.withRegion(new GuestRegion(1 << 20, 16, 1 << 20, 0, seg)));
        assertTrue(e.getMessage().contains("at most"), e.getMessage());
    }

    @Test
    void addAndRemoveRegionsMakeNewSnapshots() throws Exception {
        MockGuestMemory m = mock(A, A_SIZE);
        GuestMemory before = m.memory();
        GuestRegion added = m.region(B, B_SIZE);
        GuestMemory after = before.withRegion(added);
        assertEquals(1, before.regionCount(), "original snapshot unchanged");
        assertNull(before.translate(B, 1));
        assertEquals(2, after.regionCount());
        assertNotNull(after.translate(B, 1));
        assertTrue(after.isMapped(A, A_SIZE + B_SIZE));
        assertEquals(A, after.regions().get(0).guestAddress(), "sorted by GPA");

        GuestMemory lower = after.withRegion(m.region(0, 0x800));
        assertEquals(List.of(0L, A, B), lower.regions().stream().map(GuestRegion::guestAddress).toList());

        assertSame(added, after.find(B, B_SIZE));
        assertNull(after.find(B, B_SIZE + 1), "size must match exactly");
        GuestMemory removed = after.withoutRegion(B, B_SIZE);
        assertEquals(1, removed.regionCount());
        assertNull(removed.translate(B, 1));
        assertNotNull(removed.translate(A, 1));
        assertThrows(GuestMemoryException.class, () -> removed.withoutRegion(B, B_SIZE));
        assertThrows(GuestMemoryException.class, () -> after.withoutRegion(A, A_SIZE - 1));
        assertEquals(0, GuestMemory.empty().regionCount());
        assertNull(GuestMemory.empty().translate(0, 1));
    }

    @Test
    void manyRegionsAreFoundByBinarySearch() throws Exception {
        MemorySegment backing = Arena.ofAuto().allocate(64L * 100);
        List<GuestRegion> regions = new ArrayList<>();
        for (int i = 99; i >= 0; i--) {
            // regions of 64 bytes every 128 bytes: holes in between
            regions.add(new GuestRegion(i * 128L, 64, 0x10000 + i * 128L, 0, backing.asSlice(i * 64L, 64)));
        }
        GuestMemory mem = GuestMemory.of(regions);
        for (int i = 0; i < 100; i++) {
            assertEquals(backing.address() + i * 64L + 3, mem.hostAddress(i * 128L + 3, 61), "region " + i);
            assertEquals(-1, mem.hostAddress(i * 128L + 64, 1), "hole after region " + i);
            assertEquals(-1, mem.hostAddress(i * 128L + 3, 62), "crossing end of region " + i);
        }
    }
}
