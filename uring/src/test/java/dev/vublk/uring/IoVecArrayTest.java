package dev.vublk.uring;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class IoVecArrayTest {
    private final Arena arena = Arena.ofConfined();
    // Three buffers in separate allocations: 100, 200 and 300 bytes.
    private final MemorySegment a = arena.allocate(100), b = arena.allocate(200), c = arena.allocate(300);

    @AfterEach
    void close() {
        arena.close();
    }

    private IoVecArray source() {
        IoVecArray iov = new IoVecArray(arena, 3);
        assertTrue(iov.add(a.address(), 100));
        assertTrue(iov.add(b.address(), 200));
        assertTrue(iov.add(c.address(), 300));
        return iov;
    }

    /** The bytes 0..599 laid out over a, b and c in order. */
    private static byte[] pattern() {
        byte[] p = new byte[600];
        for (int i = 0; i < p.length; i++) {
            p[i] = (byte) (i * 7 + 3);
        }
        return p;
    }

    private byte[] concatenated() {
        byte[] out = new byte[600];
        MemorySegment.copy(a, ValueLayout.JAVA_BYTE, 0, out, 0, 100);
        MemorySegment.copy(b, ValueLayout.JAVA_BYTE, 0, out, 100, 200);
        MemorySegment.copy(c, ValueLayout.JAVA_BYTE, 0, out, 300, 300);
        return out;
    }

    @Test
    void addCountsEntriesAndBytesUntilFull() {
        IoVecArray iov = source();
        assertEquals(3, iov.count());
        assertEquals(3, iov.capacity());
        assertEquals(600, iov.totalBytes());
        assertEquals(b.address(), iov.address(1));
        assertEquals(200, iov.length(1));
        assertFalse(iov.add(a.address(), 1));
        assertEquals(3, iov.count());
        iov.clear();
        assertEquals(0, iov.count());
        assertEquals(0, iov.totalBytes());
    }

    @Test
    void capacityIsBounded() {
        assertThrows(IllegalArgumentException.class, () -> new IoVecArray(arena, 0));
        assertThrows(IllegalArgumentException.class, () -> new IoVecArray(arena, IoVecArray.IOV_MAX + 1));
        assertEquals(IoVecArray.IOV_MAX, new IoVecArray(IoVecArray.IOV_MAX).capacity());
    }

    @Test
    void setSliceSpanningEntries() {
        IoVecArray slice = new IoVecArray(arena, 4);
        slice.setSlice(source(), 150, 250);
        assertEquals(2, slice.count());
        assertEquals(250, slice.totalBytes());
        assertEquals(b.address() + 50, slice.address(0));
        assertEquals(150, slice.length(0));
        assertEquals(c.address(), slice.address(1));
        assertEquals(100, slice.length(1));
    }

    @Test
    void setSliceOnEntryBoundariesAndWhole() {
        IoVecArray slice = new IoVecArray(arena, 4);
        slice.setSlice(source(), 100, 200);
        assertEquals(1, slice.count());
        assertEquals(b.address(), slice.address(0));
        assertEquals(200, slice.length(0));

        slice.setSlice(source(), 0, 600);
        assertEquals(3, slice.count());
        assertEquals(600, slice.totalBytes());

        slice.setSlice(source(), 10, 5);
        assertEquals(1, slice.count());
        assertEquals(a.address() + 10, slice.address(0));
        assertEquals(5, slice.length(0));

        slice.setSlice(source(), 99, 302);
        assertEquals(3, slice.count());
        assertEquals(a.address() + 99, slice.address(0));
        assertEquals(1, slice.length(0));
        assertEquals(200, slice.length(1));
        assertEquals(c.address(), slice.address(2));
        assertEquals(101, slice.length(2));
    }

    @Test
    void setSliceRefusesRangesPastTheEndOrBeyondCapacity() {
        IoVecArray slice = new IoVecArray(arena, 4);
        assertThrows(IllegalArgumentException.class, () -> slice.setSlice(source(), 500, 101));
        IoVecArray tiny = new IoVecArray(arena, 1);
        assertThrows(IllegalStateException.class, () -> tiny.setSlice(source(), 50, 100));
    }

    @Test
    void copyFromSpreadsBytesOverEntries() {
        byte[] p = pattern();
        IoVecArray iov = source();
        try (Arena local = Arena.ofConfined()) {
            MemorySegment src = local.allocate(600);
            MemorySegment.copy(p, 0, src, ValueLayout.JAVA_BYTE, 0, 600);
            iov.copyFrom(src, 0, 0, 600);
            assertArrayEquals(p, concatenated());

            // 250 bytes from src[40..] into buffer positions 80..329 (end of a, all of b, start of c).
            MemorySegment zeros = local.allocate(600);
            iov.copyFrom(zeros, 0, 0, 600);
            iov.copyFrom(src, 40, 80, 250);
            byte[] expected = new byte[600];
            System.arraycopy(p, 40, expected, 80, 250);
            assertArrayEquals(expected, concatenated());
        }
    }

    @Test
    void copyToGathersBytesFromEntries() {
        byte[] p = pattern();
        MemorySegment.copy(p, 0, a, ValueLayout.JAVA_BYTE, 0, 100);
        MemorySegment.copy(p, 100, b, ValueLayout.JAVA_BYTE, 0, 200);
        MemorySegment.copy(p, 300, c, ValueLayout.JAVA_BYTE, 0, 300);
        try (Arena local = Arena.ofConfined()) {
            MemorySegment dst = local.allocate(600);
            source().copyTo(95, dst, 3, 400);
            byte[] out = dst.toArray(ValueLayout.JAVA_BYTE);
            assertArrayEquals(Arrays.copyOfRange(p, 95, 495), Arrays.copyOfRange(out, 3, 403));
            assertArrayEquals(new byte[3], Arrays.copyOfRange(out, 0, 3));
        }
    }

    @Test
    void zeroClearsOnlyTheRange() {
        IoVecArray iov = source();
        a.fill((byte) 1);
        b.fill((byte) 1);
        c.fill((byte) 1);
        iov.zero(90, 320);
        byte[] expected = new byte[600];
        Arrays.fill(expected, (byte) 1);
        Arrays.fill(expected, 90, 410, (byte) 0);
        assertArrayEquals(expected, concatenated());
    }

    @Test
    void rangesPastTheEndAreRefused() {
        IoVecArray iov = source();
        try (Arena local = Arena.ofConfined()) {
            MemorySegment buf = local.allocate(600);
            assertThrows(IllegalArgumentException.class, () -> iov.copyTo(1, buf, 0, 600));
            assertThrows(IllegalArgumentException.class, () -> iov.copyFrom(buf, 0, 300, 301));
            assertThrows(IllegalArgumentException.class, () -> iov.zero(600, 1));
        }
    }

    @Test
    void alignmentIsCheckedPerPieceOfTheRange() {
        try (Arena local = Arena.ofConfined()) {
            MemorySegment page = local.allocate(8192, 4096);
            IoVecArray iov = new IoVecArray(local, 4);
            iov.add(page.address(), 1024);
            iov.add(page.address() + 4096 + 100, 412);
            iov.add(page.address() + 6144, 512);
            assertTrue(iov.aligned(0, 1024, 512));
            assertFalse(iov.aligned(0, 1100, 512), "the second buffer starts off a 512-byte boundary");
            assertTrue(iov.aligned(1024 + 412, 512, 512));
            assertFalse(iov.aligned(512, 512, 1024), "a piece starting at 512 misses a 1024-byte alignment");
            assertFalse(iov.aligned(0, 1000, 512), "a piece ending off the boundary");
        }
    }
}
