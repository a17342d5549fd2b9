package dev.vublk.block.vhdx;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * One validated log entry: its header, descriptors and the restored 4 KiB updates of its data
 * descriptors, in order. {@code position} is its byte offset inside the log.
 */
record LogEntry(long position, LogEntryHeader header, List<LogDescriptor> descriptors, List<byte[]> updates) {

    /** The in-memory copy of the log being searched; reads wrap around its end. */
    interface Ring {
        long length();

        byte[] read(long position, int length);
    }

    /**
     * The entry at {@code position}, or null if anything about it is wrong: signature, sizes,
     * log GUID, checksum, descriptors, data sector signatures and sequence numbers.
     */
    static LogEntry parseOrNull(Ring ring, long position, UUID logGuid, LogScanBudget budget) throws LogScanBudget.Exhausted {
        LogEntryHeader h = LogEntryHeader.parseOrNull(ring.read(position, Layout.LOG_SECTOR));
        if (h == null || h.entryLength() < Layout.LOG_SECTOR || h.entryLength() % Layout.LOG_SECTOR != 0
                || h.entryLength() > ring.length() || h.sequenceNumber() == 0 || !h.logGuid().equals(logGuid)
                || h.tail() % Layout.LOG_SECTOR != 0 || h.tail() >= ring.length()) {
            return null;
        }
        long descSectors = LogEntryHeader.descriptorSectors(h.descriptorCount());
        if (descSectors * Layout.LOG_SECTOR > h.entryLength()) {
            return null;
        }
        budget.charge(h.entryLength());
        byte[] bytes = ring.read(position, (int) h.entryLength());
        if (Crc.compute(bytes, 0, bytes.length, LogEntryHeader.CHECKSUM_OFFSET) != h.checksum()) {
            return null;
        }
        List<LogDescriptor> descriptors = new ArrayList<>();
        List<byte[]> updates = new ArrayList<>();
        long dataAt = descSectors * Layout.LOG_SECTOR;
        for (int i = 0; i < h.descriptorCount(); i++) {
            LogDescriptor d = LogDescriptor.parseOrNull(bytes, LogEntryHeader.SIZE + i * LogDescriptor.SIZE);
            if (d == null || d.sequenceNumber() != h.sequenceNumber() || d.fileOffset() % Layout.LOG_SECTOR != 0
                    || d.fileOffset() < 0 || (d.zero() && (d.zeroLength() % Layout.LOG_SECTOR != 0 || d.zeroLength() < 0))) {
                return null;
            }
            if (!d.zero()) {
                if (dataAt + Layout.LOG_SECTOR > bytes.length || !LogDataSector.matches(bytes, (int) dataAt, h.sequenceNumber())) {
                    return null;
                }
                updates.add(LogDataSector.restore(bytes, (int) dataAt, d));
                dataAt += Layout.LOG_SECTOR;
            }
            descriptors.add(d);
        }
        return new LogEntry(position, h, List.copyOf(descriptors), List.copyOf(updates));
    }

    /** Bytes an entry of {@code dataSectors} updates occupies. */
    static long lengthFor(int dataSectors) {
        return (LogEntryHeader.descriptorSectors(dataSectors) + dataSectors) * Layout.LOG_SECTOR;
    }

    /** Builds the bytes of an entry carrying {@code updates}, checksum included. */
    static byte[] encode(long sequence, long tail, UUID logGuid, long flushedFileOffset, long lastFileOffset,
                         List<SectorUpdate> updates) {
        int n = updates.size();
        long descSectors = LogEntryHeader.descriptorSectors(n);
        byte[] bytes = new byte[(int) lengthFor(n)];
        new LogEntryHeader(0, bytes.length, tail, sequence, n, logGuid, flushedFileOffset, lastFileOffset).encodeInto(bytes);
        int dataAt = (int) (descSectors * Layout.LOG_SECTOR);
        for (int i = 0; i < n; i++) {
            SectorUpdate u = updates.get(i);
            LogDescriptor.data(u.fileOffset(), u.data(), sequence).encodeInto(bytes, LogEntryHeader.SIZE + i * LogDescriptor.SIZE);
            LogDataSector.encodeInto(bytes, dataAt, u.data(), sequence);
            dataAt += Layout.LOG_SECTOR;
        }
        Crc.seal(bytes, 0, bytes.length, LogEntryHeader.CHECKSUM_OFFSET);
        return bytes;
    }

    long end() {
        return position + header.entryLength();
    }
}
