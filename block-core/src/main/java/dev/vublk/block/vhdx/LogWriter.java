package dev.vublk.block.vhdx;

import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
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

    /** The crash point: run once each entry is durable, before its sectors go in place. */
    Runnable afterEntryDurable() {
        return afterEntryDurable;
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
     * One log entry as it goes to disk: its bytes at {@code logOffsets} (two pieces when the
     * entry wraps around the end of the log), then, once those are durable, its sectors in place.
     */
    record Entry(long[] logOffsets, byte[][] pieces, List<SectorUpdate> updates) {}

    /**
     * Encodes {@code updates} into as many entries as needed and takes their place in the log;
     * the caller writes them in order (entry, sync, sectors, sync, each entry before the next).
     *
     * @param flushedFileOffset a file size already durable
     * @param lastFileOffset    a file size holding every structure after these updates
     */
    List<Entry> prepare(List<SectorUpdate> updates, long flushedFileOffset, long lastFileOffset) {
        int max = maxUpdatesPerEntry();
        List<Entry> entries = new ArrayList<>();
        for (int from = 0; from < updates.size(); from += max) {
            List<SectorUpdate> part = updates.subList(from, Math.min(updates.size(), from + max));
            // FlushedFileOffset is a size known durable, so round down; LastFileOffset must hold everything, so round up.
            byte[] entry = LogEntry.encode(sequence, position, logGuid, flushedFileOffset / Layout.MIB * Layout.MIB,
                    Layout.roundUp(lastFileOffset, Layout.MIB), new ArrayList<>(part));
            int first = (int) Math.min(entry.length, logLength - position);
            if (first < entry.length) {
                entries.add(new Entry(new long[] {logOffset + position, logOffset},
                        new byte[][] {Arrays.copyOfRange(entry, 0, first), Arrays.copyOfRange(entry, first, entry.length)},
                        List.copyOf(part)));
            } else {
                entries.add(new Entry(new long[] {logOffset + position}, new byte[][] {entry}, List.copyOf(part)));
            }
            position = (position + entry.length) % logLength;
            sequence++;
        }
        return entries;
    }

    /** Makes {@code updates} durable at their places with synchronous calls; see {@link #prepare}. */
    void commit(List<SectorUpdate> updates, long flushedFileOffset, long lastFileOffset) throws IOException {
        for (Entry e : prepare(updates, flushedFileOffset, lastFileOffset)) {
            try (Arena arena = Arena.ofConfined()) {
                for (int i = 0; i < e.pieces().length; i++) {
                    file.write(arena.allocateFrom(ValueLayout.JAVA_BYTE, e.pieces()[i]), e.logOffsets()[i]);
                }
                file.fdatasync();
                afterEntryDurable.run();
                MemorySegment sector = arena.allocate(Layout.LOG_SECTOR, 4096);
                for (SectorUpdate u : e.updates()) {
                    MemorySegment.copy(u.data(), 0, sector, ValueLayout.JAVA_BYTE, 0, Layout.LOG_SECTOR);
                    file.write(sector, u.fileOffset());
                }
                file.fdatasync();
            }
        }
    }
}
