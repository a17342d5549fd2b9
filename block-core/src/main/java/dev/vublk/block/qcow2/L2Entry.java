package dev.vublk.block.qcow2;

/**
 * Bit layout of L1 and L2 entries and of the extended-L2 subcluster bitmap. Entries stay plain
 * longs in the cached tables; these helpers name the fields.
 */
public final class L2Entry {
    public static final long COPIED = 1L << 63;
    public static final long COMPRESSED = 1L << 62;
    public static final long ZERO = 1L;
    /** Bits 9-55: a host cluster offset (standard L2 entries and L1 entries). */
    public static final long OFFSET_MASK = 0x00fffffffffffe00L;
    public static final int SUBCLUSTERS = 32;
    public static final long ALL_ALLOCATED = 0xffffffffL;
    public static final long ALL_ZERO = 0xffffffffL << 32;

    private L2Entry() {}

    public static long offset(long entry) {
        return entry & OFFSET_MASK;
    }

    public static boolean compressed(long entry) {
        return (entry & COMPRESSED) != 0;
    }

    public static boolean copied(long entry) {
        return (entry & COPIED) != 0;
    }

    /** Bits used by the host offset of a compressed descriptor: 62 - (cluster_bits - 8). */
    public static int compressedOffsetBits(int clusterBits) {
        return 62 - (clusterBits - 8);
    }

    public static long compressedOffset(long entry, int clusterBits) {
        return entry & ((1L << compressedOffsetBits(clusterBits)) - 1);
    }

    /** Bytes from the compressed offset to the end of the last 512-byte sector it occupies. */
    public static long compressedLength(long entry, int clusterBits) {
        int x = compressedOffsetBits(clusterBits);
        long sectors = ((entry & ~COPIED & ~COMPRESSED) >>> x) + 1;
        return sectors * 512 - (compressedOffset(entry, clusterBits) & 511);
    }

    /** Subcluster bitmap helpers: bit i of the low half = allocated, of the high half = zero. */
    public static boolean subAllocated(long bitmap, int sub) {
        return (bitmap & (1L << sub)) != 0;
    }

    public static boolean subZero(long bitmap, int sub) {
        return (bitmap & (1L << (sub + 32))) != 0;
    }

    /** The allocation bits for subclusters {@code first..last} inclusive. */
    public static long subRange(int first, int last) {
        long bits = last >= 31 ? ALL_ALLOCATED : (1L << (last + 1)) - 1;
        return bits & ~((1L << first) - 1);
    }
}
