package dev.vublk.block.vhdx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.UUID;

/** The 64-byte header opening every log entry. */
record LogEntryHeader(int checksum, long entryLength, long tail, long sequenceNumber, long descriptorCount,
                      UUID logGuid, long flushedFileOffset, long lastFileOffset) {
    static final int SIGNATURE = 0x65676F6C; // "loge"
    static final int SIZE = 64;
    static final int CHECKSUM_OFFSET = 4;

    /** Null unless the signature is right; field checks are the caller's. */
    static LogEntryHeader parseOrNull(byte[] sector) {
        ByteBuffer b = ByteBuffer.wrap(sector).order(ByteOrder.LITTLE_ENDIAN);
        if (b.getInt(0) != SIGNATURE) {
            return null;
        }
        return new LogEntryHeader(b.getInt(4), Integer.toUnsignedLong(b.getInt(8)), Integer.toUnsignedLong(b.getInt(12)),
                b.getLong(16), Integer.toUnsignedLong(b.getInt(24)), MsGuid.read(b, 32), b.getLong(48), b.getLong(56));
    }

    void encodeInto(byte[] sector) {
        ByteBuffer b = ByteBuffer.wrap(sector).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, SIGNATURE);
        b.putInt(4, checksum);
        b.putInt(8, (int) entryLength);
        b.putInt(12, (int) tail);
        b.putLong(16, sequenceNumber);
        b.putInt(24, (int) descriptorCount);
        b.putInt(28, 0);
        MsGuid.write(b, 32, logGuid);
        b.putLong(48, flushedFileOffset);
        b.putLong(56, lastFileOffset);
    }

    /** Descriptor sectors of an entry: the first holds the header and 126 descriptors, the rest 128. */
    static long descriptorSectors(long descriptorCount) {
        return (descriptorCount + 2 + 127) / 128;
    }
}
