package dev.vublk.block.vhdx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A data descriptor (one 4 KiB sector write, whose first 8 and last 4 bytes it carries) or a
 * zero descriptor (a range to zero).
 */
record LogDescriptor(boolean zero, long fileOffset, long zeroLength, long leadingBytes, int trailingBytes, long sequenceNumber) {
    static final int DATA_SIGNATURE = 0x63736564; // "desc"
    static final int ZERO_SIGNATURE = 0x6F72657A; // "zero"
    static final int SIZE = 32;

    /** Null when the signature is neither "desc" nor "zero". */
    static LogDescriptor parseOrNull(byte[] buf, int at) {
        ByteBuffer b = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
        int sig = b.getInt(at);
        if (sig == DATA_SIGNATURE) {
            return new LogDescriptor(false, b.getLong(at + 16), 0, b.getLong(at + 8), b.getInt(at + 4), b.getLong(at + 24));
        }
        if (sig == ZERO_SIGNATURE) {
            return new LogDescriptor(true, b.getLong(at + 16), b.getLong(at + 8), 0, 0, b.getLong(at + 24));
        }
        return null;
    }

    static LogDescriptor data(long fileOffset, byte[] sector, long sequence) {
        ByteBuffer b = ByteBuffer.wrap(sector).order(ByteOrder.LITTLE_ENDIAN);
        return new LogDescriptor(false, fileOffset, 0, b.getLong(0), b.getInt(Layout.LOG_SECTOR - 4), sequence);
    }

    void encodeInto(byte[] buf, int at) {
        ByteBuffer b = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
        if (zero) {
            b.putInt(at, ZERO_SIGNATURE);
            b.putInt(at + 4, 0);
            b.putLong(at + 8, zeroLength);
        } else {
            b.putInt(at, DATA_SIGNATURE);
            b.putInt(at + 4, trailingBytes);
            b.putLong(at + 8, leadingBytes);
        }
        b.putLong(at + 16, fileOffset);
        b.putLong(at + 24, sequenceNumber);
    }

    /** Bytes this descriptor writes to the file. */
    long length() {
        return zero ? zeroLength : Layout.LOG_SECTOR;
    }
}
