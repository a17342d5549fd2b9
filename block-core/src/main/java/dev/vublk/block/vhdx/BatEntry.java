package dev.vublk.block.vhdx;

/**
 * One 64-bit BAT entry: a 3-bit state and the block's file offset in MiB. Payload and sector
 * bitmap entries share the encoding but not the state values.
 */
record BatEntry(int state, long fileOffsetMb) {
    // Payload block states.
    static final int NOT_PRESENT = 0, UNDEFINED = 1, ZERO = 2, UNMAPPED = 3, FULLY_PRESENT = 6, PARTIALLY_PRESENT = 7;
    // Sector bitmap block states.
    static final int SB_NOT_PRESENT = 0, SB_PRESENT = 6;
    static final long OFFSET_MASK = (1L << 44) - 1;

    static BatEntry decode(long raw) {
        return new BatEntry((int) (raw & 7), raw >>> 20);
    }

    static int state(long raw) {
        return (int) (raw & 7);
    }

    static long fileOffset(long raw) {
        return (raw >>> 20) * Layout.MIB;
    }

    static long encode(int state, long fileOffset) {
        return (fileOffset / Layout.MIB & OFFSET_MASK) << 20 | (state & 7);
    }

    long raw() {
        return (fileOffsetMb & OFFSET_MASK) << 20 | (state & 7);
    }

    long fileOffset() {
        return fileOffsetMb * Layout.MIB;
    }

    /** States that say the payload block's data lives at {@link #fileOffset()}. */
    static boolean hasData(int state) {
        return state == FULLY_PRESENT || state == PARTIALLY_PRESENT;
    }

    static boolean validPayloadState(int state) {
        return state <= UNMAPPED || state == FULLY_PRESENT || state == PARTIALLY_PRESENT;
    }
}
