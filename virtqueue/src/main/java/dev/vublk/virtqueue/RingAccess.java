package dev.vublk.virtqueue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Little-endian accessors for ring fields shared with another party (the driver in the guest, or
 * the device for the test driver). Ring memory is always little-endian (virtio 1.x); the
 * layouts below byte-swap on big-endian hosts and are free on x86/arm64.
 *
 * <p>Plain accessors are used for data whose visibility is already ordered by an index access:
 * a ring entry written before a release store of an index, or read after an acquire load of it.
 * Index fields themselves go through {@link VarHandle} acquire/release modes, which need the
 * field to be naturally aligned; callers check ring alignment up front.
 */
public final class RingAccess {
    public static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Descriptor fields are read unaligned: an indirect table's alignment is the guest's choice. */
    public static final ValueLayout.OfShort U16_UNALIGNED = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfInt U32_UNALIGNED = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfLong U64_UNALIGNED = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final VarHandle U16_HANDLE = U16.varHandle();

    private RingAccess() {
    }

    /** Plain 16-bit load, zero-extended. */
    public static int loadU16(MemorySegment s, long offset) {
        return s.get(U16, offset) & 0xffff;
    }

    /** Plain 16-bit store. */
    public static void storeU16(MemorySegment s, long offset, int value) {
        s.set(U16, offset, (short) value);
    }

    /** 16-bit load that no later load or store may be reordered before. */
    public static int loadU16Acquire(MemorySegment s, long offset) {
        return ((short) U16_HANDLE.getAcquire(s, offset)) & 0xffff;
    }

    /** 16-bit store that no earlier load or store may be reordered after. */
    public static void storeU16Release(MemorySegment s, long offset, int value) {
        U16_HANDLE.setRelease(s, offset, (short) value);
    }

    /** Plain 32-bit load (as an int; callers treat it as unsigned where it matters). */
    public static int loadU32(MemorySegment s, long offset) {
        return s.get(U32, offset);
    }

    /** Plain 32-bit store. */
    public static void storeU32(MemorySegment s, long offset, int value) {
        s.set(U32, offset, value);
    }

    /** True when {@code s} starts at a multiple of {@code alignment} (a power of two). */
    public static boolean isAligned(MemorySegment s, long alignment) {
        return (s.address() & (alignment - 1)) == 0;
    }
}
