package dev.vublk.block.vhdx;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/**
 * Finds the active log sequence as MS-VHDX 2.3.3 describes: scan the ring for runs of valid
 * entries with consecutive sequence numbers, keep runs whose head's tail points inside the run,
 * and take the one whose head has the highest sequence number. Every entry is parsed at most
 * once, but a walk may revisit entries parsed before (a run of entries that never completes a
 * sequence is walked again from each of its sectors), so checksummed bytes and walk steps both
 * draw on one {@link LogScanBudget} of {@link #BUDGET_PER_LOG_BYTE} times the log length plus
 * {@link #BUDGET_SLACK}: a log of N bytes costs at most 8N + 1 MiB of work (513 MiB for the
 * 64 MiB largest log), where an intact log needs about 3N (each entry checksummed once, the
 * ring walked about twice).
 */
final class LogSearch {
    static final long BUDGET_PER_LOG_BYTE = 8;
    static final long BUDGET_SLACK = Layout.MIB;
    private final LogEntry.Ring ring;
    private final UUID logGuid;
    private final LogScanBudget budget;
    private final Map<Long, Optional<LogEntry>> parsed = new HashMap<>();
    private boolean sawMatchingEntry;

    LogSearch(LogEntry.Ring ring, UUID logGuid) {
        this.ring = ring;
        this.logGuid = logGuid;
        this.budget = new LogScanBudget(BUDGET_PER_LOG_BYTE * ring.length() + BUDGET_SLACK);
    }

    /** The entries to replay, tail first; empty when no valid sequence exists. */
    List<LogEntry> activeSequence() throws LogScanBudget.Exhausted {
        List<LogEntry> candidate = List.of();
        long length = ring.length();
        long tail = 0;
        long oldTail = 0;
        for (long step = 0; step <= length / Layout.LOG_SECTOR; step++) {
            List<LogEntry> current = new ArrayList<>();
            long head = tail;
            long covered = 0;
            while (true) {
                budget.charge(Layout.LOG_SECTOR); // each step of a walk costs one sector, parsed or cached
                LogEntry e = entryAt(head);
                if (e == null || covered + e.header().entryLength() >= length) {
                    break;
                }
                if (!current.isEmpty() && e.header().sequenceNumber() != current.getLast().header().sequenceNumber() + 1) {
                    break;
                }
                current.add(e);
                covered += e.header().entryLength();
                head = (head + e.header().entryLength()) % length;
            }
            List<LogEntry> valid = fromTail(current);
            if (!valid.isEmpty() && (candidate.isEmpty() || Long.compareUnsigned(
                    valid.getLast().header().sequenceNumber(), candidate.getLast().header().sequenceNumber()) > 0)) {
                candidate = valid;
            }
            tail = valid.isEmpty() ? (tail + Layout.LOG_SECTOR) % length : head;
            if (tail < oldTail) {
                break;
            }
            oldTail = tail;
        }
        return candidate;
    }

    /** Whether any sector holds an entry header carrying this log's GUID, valid or not. */
    boolean sawMatchingEntry() {
        return sawMatchingEntry;
    }

    /** The run cut down to start at its head's tail entry, or empty if the tail is not in it. */
    private static List<LogEntry> fromTail(List<LogEntry> run) {
        if (run.isEmpty()) {
            return run;
        }
        long wantedTail = run.getLast().header().tail();
        for (int i = 0; i < run.size(); i++) {
            if (run.get(i).position() == wantedTail) {
                return List.copyOf(run.subList(i, run.size()));
            }
        }
        return List.of();
    }

    private LogEntry entryAt(long position) throws LogScanBudget.Exhausted {
        Optional<LogEntry> known = parsed.get(position);
        if (known == null) {
            LogEntryHeader h = LogEntryHeader.parseOrNull(ring.read(position, LogEntryHeader.SIZE));
            if (h != null && h.logGuid().equals(logGuid)) {
                sawMatchingEntry = true;
            }
            known = Optional.ofNullable(h == null ? null : LogEntry.parseOrNull(ring, position, logGuid, budget));
            parsed.put(position, known);
        }
        return known.orElse(null);
    }
}
