package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import dev.vublk.uring.Errno;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;

/** Reads the log of an image, finds what needs replaying, and replays it. */
final class LogReplay {
    /** Logs above this are refused rather than read into memory (Hyper-V and qemu make 1 MiB logs). */
    static final long MAX_LOG = 64 * Layout.MIB;
    /**
     * How far a replay may extend the file past its current end. The largest single change a
     * writer logs is a BAT moved to the end of the file (513 MiB for a 64 TiB disk of 1 MiB blocks
     * and 512-byte sectors) or a 256 MiB block with its 1 MiB sector bitmap; 1 GiB covers either,
     * while a crafted LastFileOffset or descriptor can no longer make the file terabytes long.
     */
    static final long MAX_REPLAY_GROWTH = 1L << 30;
    /**
     * What a log may write inside the header section: the two region tables. The file identifier
     * and headers are never logged (they are how the log is found), and the rest is reserved.
     */
    private static final long HEADER_SECTION_LOGGED_START = Layout.REGION_TABLE1_OFFSET,
            HEADER_SECTION_LOGGED_END = Layout.REGION_TABLE2_OFFSET + Layout.REGION_TABLE_SIZE;
    private static final long ZERO_CHUNK = Layout.MIB;

    private LogReplay() {}

    /** The entries the header's log needs replayed; empty for an empty log. */
    static List<LogEntry> pending(NativeFile file, VhdxHeader header, Path path) throws IOException {
        if (!header.logPresent()) {
            return List.of();
        }
        if (header.logLength() > MAX_LOG) {
            throw new ImageException(path, "log of " + header.logLength() + " bytes is larger than the " + MAX_LOG + " supported");
        }
        long fileSize = file.size();
        header.checkLogInside(fileSize, path);
        byte[] log = file.readBytes(header.logOffset(), (int) header.logLength());
        LogSearch search = new LogSearch(ringOf(log), header.logGuid());
        List<LogEntry> active;
        try {
            active = search.activeSequence();
        } catch (LogScanBudget.Exhausted e) {
            throw new ImageException(path, e.getMessage());
        }
        if (active.isEmpty() && search.sawMatchingEntry()) {
            throw new ImageException(path, "log holds entries for log GUID " + header.logGuid()
                    + " but no valid, complete sequence (damaged or looping log)");
        }
        // No entry at all with the GUID: a writer set the GUID and stopped before logging. Nothing to replay.
        if (!active.isEmpty()) {
            LogEntryHeader head = active.getLast().header();
            if (Long.compareUnsigned(head.flushedFileOffset(), fileSize) > 0) {
                throw new ImageException(path, "file is " + fileSize + " bytes but the log says at least "
                        + Long.toUnsignedString(head.flushedFileOffset()) + " were flushed: the image was truncated");
            }
            long end = replayEnd(head, fileSize, path);
            for (LogEntry e : active) {
                for (LogDescriptor d : e.descriptors()) {
                    checkTarget(d, header, end, path);
                }
            }
        }
        return active;
    }

    /**
     * The file size after replaying up to {@code head}: the current size, or the head's
     * LastFileOffset rounded to 1 MiB (as {@link #apply} extends it) if that is larger and within
     * {@link #MAX_REPLAY_GROWTH} of the current end.
     */
    private static long replayEnd(LogEntryHeader head, long fileSize, Path path) throws ImageException {
        long last = head.lastFileOffset();
        if (Long.compareUnsigned(last, fileSize) <= 0) {
            return fileSize;
        }
        if (Long.compareUnsigned(last, fileSize + MAX_REPLAY_GROWTH) > 0
                || Layout.roundUp(last, Layout.MIB) - fileSize > MAX_REPLAY_GROWTH) {
            throw new ImageException(path, "log's LastFileOffset " + Long.toUnsignedString(last) + " would extend the file from "
                    + fileSize + " bytes by more than the " + MAX_REPLAY_GROWTH + " bytes a replay may add");
        }
        return Layout.roundUp(last, Layout.MIB);
    }

    /**
     * A descriptor may write the region tables, or past the header section anywhere but the log
     * (BAT, metadata and every block the BAT can name live there), and not past {@code fileEnd}.
     */
    private static void checkTarget(LogDescriptor d, VhdxHeader header, long fileEnd, Path path) throws ImageException {
        long start = d.fileOffset();
        long end = start + d.length();
        boolean overlapsLog = start < header.logOffset() + header.logLength() && header.logOffset() < end;
        boolean headerSection = start < Layout.HEADER_SECTION
                && (start < HEADER_SECTION_LOGGED_START || end > HEADER_SECTION_LOGGED_END);
        if (end < start || end > fileEnd || overlapsLog || headerSection) {
            throw new ImageException(path, "log descriptor writes [" + start + ", " + Long.toUnsignedString(end)
                    + ") outside what a log may touch (the region tables, or past the header section up to "
                    + fileEnd + " bytes, not the log itself)");
        }
    }

    /** Applies the entries in order, extends the file to the head's LastFileOffset, and syncs. */
    static void apply(NativeFile file, List<LogEntry> entries) throws IOException {
        if (entries.isEmpty()) {
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sector = arena.allocate(Layout.LOG_SECTOR, 4096);
            MemorySegment zeros = arena.allocate(ZERO_CHUNK, 4096);
            for (LogEntry e : entries) {
                int next = 0;
                for (LogDescriptor d : e.descriptors()) {
                    if (d.zero()) {
                        zero(file, zeros, d.fileOffset(), d.zeroLength());
                    } else {
                        MemorySegment.copy(e.updates().get(next++), 0, sector, ValueLayout.JAVA_BYTE, 0, Layout.LOG_SECTOR);
                        file.write(sector, d.fileOffset());
                    }
                }
            }
        }
        long last = entries.getLast().header().lastFileOffset();
        if (file.size() < last) {
            file.truncate(Layout.roundUp(last, Layout.MIB));
        }
        file.fsync();
    }

    /**
     * Zeroes a range without writing its bytes where the file system can (a zero descriptor may
     * span the whole file); otherwise writes zeros. Past the current end the final extension to
     * LastFileOffset already reads as zeros.
     */
    private static void zero(NativeFile file, MemorySegment zeros, long offset, long length) throws IOException {
        long end = Math.min(offset + length, file.size());
        if (end <= offset) {
            return;
        }
        try {
            file.zeroRange(offset, end - offset);
        } catch (NativeException e) {
            if (e.errno() != Errno.ENOTSUP) {
                throw e;
            }
            for (long at = offset; at < end; at += ZERO_CHUNK) {
                file.write(zeros.asSlice(0, Math.min(ZERO_CHUNK, end - at)), at);
            }
        }
    }

    static LogEntry.Ring ringOf(byte[] log) {
        return new LogEntry.Ring() {
            @Override
            public long length() {
                return log.length;
            }

            @Override
            public byte[] read(long position, int length) {
                byte[] out = new byte[length];
                int first = (int) Math.min(length, log.length - position);
                System.arraycopy(log, (int) position, out, 0, first);
                for (int done = first; done < length; ) {
                    int n = Math.min(length - done, log.length);
                    System.arraycopy(log, 0, out, done, n);
                    done += n;
                }
                return out;
            }
        };
    }
}
