package dev.vublk.block.vhdx;

/**
 * What discard and write-zeroes do to one block, by image kind and block state.
 *
 * <p>Write-zeroes must leave zeros, whatever the parent holds: a ZERO block stays, a whole block
 * becomes ZERO, data is zeroed in place (sectors of a partially present block are then marked
 * present, so the parent stops showing), and a differencing disk's block that is not present
 * gets space for the zeroed sectors alone. UNMAPPED and UNDEFINED blocks become ZERO rather than
 * being trusted to read as zeros, since readers may differ on them.
 *
 * <p>Discard may leave zeros or what the range held, never anything else: in a differencing
 * disk that rules out handing sectors back to the parent (its data is older than what the
 * guest discarded), so data is punched (reads zeros) and whole blocks become ZERO; ranges that
 * show the parent already keep showing it. Dynamic disks punch, or UNMAP whole blocks. Fixed
 * disks keep every block and zero in place.
 */
final class ClearPolicy {
    static final int NOTHING = 0, ZERO_IN_PLACE = 1, PUNCH = 2, ZERO_AND_MARK = 3, ALLOCATE_ZERO_AND_MARK = 4,
            STATE_ZERO = 5, STATE_UNMAPPED = 6;

    private ClearPolicy() {}

    /**
     * @param whole    the range covers the whole block (or all of the disk's last, short block)
     * @param zeroes   write-zeroes rather than discard
     * @param mayUnmap write-zeroes may release space (discard always may)
     */
    static int action(VhdxMetadata meta, int state, boolean whole, boolean zeroes, boolean mayUnmap) {
        boolean data = BatEntry.hasData(state);
        if (meta.leaveBlocksAllocated()) {
            return data ? ZERO_IN_PLACE : zeroes && state != BatEntry.ZERO ? STATE_ZERO : NOTHING;
        }
        boolean diff = meta.differencing();
        if (!zeroes) {
            if (!data) {
                return NOTHING;
            }
            if (whole) {
                return diff ? STATE_ZERO : STATE_UNMAPPED;
            }
            return PUNCH;
        }
        if (whole && (mayUnmap || !data)) {
            return STATE_ZERO;
        }
        return switch (state) {
            case BatEntry.FULLY_PRESENT -> mayUnmap ? PUNCH : ZERO_IN_PLACE;
            case BatEntry.PARTIALLY_PRESENT -> ZERO_AND_MARK;
            case BatEntry.ZERO -> NOTHING;
            case BatEntry.NOT_PRESENT -> diff ? ALLOCATE_ZERO_AND_MARK : STATE_ZERO;
            default -> STATE_ZERO; // UNMAPPED, UNDEFINED
        };
    }
}
