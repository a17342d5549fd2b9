package dev.vublk.block.qcow2;

import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The snapshot table named by the header, read only as far as refcounts need it.
 *
 * @param entries    one per snapshot, in table order
 * @param byteLength bytes the table occupies from {@link QcowHeader#snapshotsOffset()}
 */
record SnapshotTable(List<SnapshotEntry> entries, long byteLength) {
    /** QEMU's limit on the whole table. */
    static final long MAX_BYTES = 64L << 20;

    static SnapshotTable read(NativeFile file, QcowHeader h) throws IOException, QcowFormatException {
        if (h.nbSnapshots() == 0) {
            return new SnapshotTable(List.of(), 0);
        }
        long fileSize = file.size();
        List<SnapshotEntry> entries = new ArrayList<>(h.nbSnapshots());
        long at = 0;
        long end = 0;
        for (int i = 0; i < h.nbSnapshots(); i++) {
            long offset = h.snapshotsOffset() + at;
            if (at + SnapshotEntry.FIXED_BYTES > MAX_BYTES || offset + SnapshotEntry.FIXED_BYTES > fileSize) {
                throw new QcowFormatException("snapshot table entry " + i + " lies past the end of the file"
                        + " or past the " + MAX_BYTES + "-byte table limit");
            }
            SnapshotEntry e = SnapshotEntry.parse(file.readBytes(offset, SnapshotEntry.FIXED_BYTES), i, h, fileSize);
            entries.add(e);
            end = at + e.entryBytes();
            at = (end + 7) & ~7L;
        }
        if (end > MAX_BYTES || h.snapshotsOffset() + end > fileSize) {
            throw new QcowFormatException("snapshot table of " + end + " bytes runs past the end of the file");
        }
        return new SnapshotTable(List.copyOf(entries), end);
    }
}
