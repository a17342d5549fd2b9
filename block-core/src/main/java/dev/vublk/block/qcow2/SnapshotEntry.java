package dev.vublk.block.qcow2;

import java.nio.ByteBuffer;

/**
 * The part of one snapshot table entry that refcounts depend on: where the snapshot's L1 table
 * is and how long it is, plus how many bytes the entry occupies (40 fixed bytes, extra data, the
 * id and name strings; the next entry starts 8-aligned). Names, dates and VM state sizes are not needed here: the VM
 * state lives in clusters reached through the snapshot's own L1 table.
 *
 * @param l1TableOffset host offset of the snapshot's L1 table
 * @param l1Size        entries in that table
 * @param entryBytes    bytes of this entry in the snapshot table, without padding (QEMU does not
 *                      pad the last one)
 */
record SnapshotEntry(long l1TableOffset, int l1Size, int entryBytes) {
    static final int FIXED_BYTES = 40;
    /** QEMU's own limit on the extra data of an entry. */
    static final int MAX_EXTRA_DATA = 1024;

    /** Parses the fixed part at the start of {@code fixed}; checks it against the image. */
    static SnapshotEntry parse(byte[] fixed, int index, QcowHeader h, long fileSize) throws QcowFormatException {
        ByteBuffer b = ByteBuffer.wrap(fixed);
        long l1Offset = b.getLong(0);
        int l1Size = b.getInt(8);
        int idSize = b.getShort(12) & 0xffff;
        int nameSize = b.getShort(14) & 0xffff;
        int extra = b.getInt(36);
        if (extra < 0 || extra > MAX_EXTRA_DATA) {
            throw new QcowFormatException("snapshot " + index + " has " + Integer.toUnsignedString(extra)
                    + " bytes of extra data (at most " + MAX_EXTRA_DATA + ")");
        }
        if (l1Size < 0 || (long) l1Size * 8 > QcowHeader.MAX_L1_BYTES) {
            throw new QcowFormatException("snapshot " + index + " has an L1 table of "
                    + Integer.toUnsignedString(l1Size) + " entries");
        }
        if (l1Size > 0 && ((l1Offset & (h.clusterSize() - 1)) != 0 || l1Offset <= 0
                || l1Offset > fileSize || (long) l1Size * 8 > fileSize - l1Offset)) {
            throw new QcowFormatException("snapshot " + index + " has its L1 table at 0x" + Long.toHexString(l1Offset)
                    + ", not a cluster inside the file");
        }
        return new SnapshotEntry(l1Offset, l1Size, FIXED_BYTES + extra + idSize + nameSize);
    }
}
