package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
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
        if (header.logOffset() + header.logLength() > fileSize) {
            throw new ImageException(path, "log [" + header.logOffset() + ", +" + header.logLength() + ") lies past the end of the file");
        }
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
                        + head.flushedFileOffset() + " were flushed: the image was truncated");
            }
            for (LogEntry e : active) {
                for (LogDescriptor d : e.descriptors()) {
                    checkTarget(d, header, head, fileSize, path);
                }
            }
        }
        return active;
    }

    private static void checkTarget(LogDescriptor d, VhdxHeader header, LogEntryHeader head, long fileSize, Path path)
            throws ImageException {
        long limit = Math.max(fileSize, head.lastFileOffset());
        long end = d.fileOffset() + d.length();
        boolean overlapsLog = d.fileOffset() < header.logOffset() + header.logLength() && header.logOffset() < end;
        if (d.fileOffset() < Layout.REGION_TABLE1_OFFSET || end < d.fileOffset() || end > limit || overlapsLog
                || head.lastFileOffset() > Layout.MAX_DISK_SIZE * 2) {
            throw new ImageException(path, "log descriptor writes [" + d.fileOffset() + ", " + end
                    + ") outside the metadata it may touch");
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
                        for (long done = 0; done < d.zeroLength(); done += ZERO_CHUNK) {
                            file.write(zeros.asSlice(0, Math.min(ZERO_CHUNK, d.zeroLength() - done)), d.fileOffset() + done);
                        }
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
