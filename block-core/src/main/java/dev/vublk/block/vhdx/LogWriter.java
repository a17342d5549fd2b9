package dev.vublk.block.vhdx;

import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * Writes metadata updates write-ahead: the entry into the ring, flush, the sectors to their
 * places, flush. Each entry is applied and flushed before the next is written, so every entry
 * is its own tail, and an entry never overwrites its predecessor (entries are at most half the
 * ring): after a crash the newest valid entry is the newest applied or about-to-be-applied one.
 * Callers serialise calls (the metadata lock).
 */
final class LogWriter {
    private final NativeFile file;
    private final long logOffset;
    private final long logLength;
    private final UUID logGuid;
    private final Runnable afterEntryDurable;
    private long position;
    private long sequence;

    /**
     * @param afterEntryDurable runs once each entry is durable in the log and before any of its
     *                          sectors is written in place: the point a crash leaves a log to
     *                          replay (crash tests kill their process there; a no-op otherwise)
     */
    LogWriter(NativeFile file, long logOffset, long logLength, UUID logGuid, long firstSequence, Runnable afterEntryDurable) {
        this.file = file;
        this.afterEntryDurable = afterEntryDurable;
        this.logOffset = logOffset;
        this.logLength = logLength;
        this.logGuid = logGuid;
        this.sequence = Math.max(1, firstSequence);
    }

    /** The most updates one entry may carry. */
    int maxUpdatesPerEntry() {
        int n = (int) (logLength / 2 / Layout.LOG_SECTOR);
        while (n > 0 && LogEntry.lengthFor(n) > logLength / 2) {
            n--;
        }
        return n;
    }

    /**
     * Makes {@code updates} durable at their places, through as many entries as needed.
     *
     * @param flushedFileOffset a file size already durable
     * @param lastFileOffset    a file size holding every structure after these updates
     */
    void commit(List<SectorUpdate> updates, long flushedFileOffset, long lastFileOffset) throws IOException {
        int max = maxUpdatesPerEntry();
        for (int from = 0; from < updates.size(); from += max) {
            writeEntry(updates.subList(from, Math.min(updates.size(), from + max)), flushedFileOffset, lastFileOffset);
        }
    }

    private void writeEntry(List<SectorUpdate> updates, long flushed, long last) throws IOException {
        // FlushedFileOffset is a size known durable, so round down; LastFileOffset must hold everything, so round up.
        byte[] entry = LogEntry.encode(sequence, position, logGuid, flushed / Layout.MIB * Layout.MIB,
                Layout.roundUp(last, Layout.MIB), new ArrayList<>(updates));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(entry.length, 4096);
            MemorySegment.copy(entry, 0, buf, ValueLayout.JAVA_BYTE, 0, entry.length);
            long first = Math.min(entry.length, logLength - position);
            file.write(buf.asSlice(0, first), logOffset + position);
            if (first < entry.length) {
                file.write(buf.asSlice(first), logOffset);
            }
            file.fdatasync();
            afterEntryDurable.run();
            MemorySegment sector = arena.allocate(Layout.LOG_SECTOR, 4096);
            for (SectorUpdate u : updates) {
                MemorySegment.copy(u.data(), 0, sector, ValueLayout.JAVA_BYTE, 0, Layout.LOG_SECTOR);
                file.write(sector, u.fileOffset());
            }
            file.fdatasync();
        }
        position = (position + entry.length) % logLength;
        sequence++;
    }
}
