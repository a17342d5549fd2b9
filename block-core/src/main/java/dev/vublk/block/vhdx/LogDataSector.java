package dev.vublk.block.vhdx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A log data sector: "data", the sequence number split around 4084 bytes of the update. The
 * update's first 8 and last 4 bytes live in its descriptor, so the signature and sequence halves
 * can take their place and a torn or misdirected sector is caught.
 */
final class LogDataSector {
    static final int SIGNATURE = 0x61746164; // "data"

    private LogDataSector() {}

    static void encodeInto(byte[] buf, int at, byte[] update, long sequence) {
        ByteBuffer b = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(at, SIGNATURE);
        b.putInt(at + 4, (int) (sequence >>> 32));
        System.arraycopy(update, 8, buf, at + 8, 4084);
        b.putInt(at + 4092, (int) sequence);
    }

    /** Whether the sector at {@code at} carries the signature and the given sequence number. */
    static boolean matches(byte[] buf, int at, long sequence) {
        ByteBuffer b = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
        return b.getInt(at) == SIGNATURE && b.getInt(at + 4) == (int) (sequence >>> 32) && b.getInt(at + 4092) == (int) sequence;
    }

    /** The original 4 KiB update: leading bytes, the sector's payload, trailing bytes. */
    static byte[] restore(byte[] buf, int at, LogDescriptor d) {
        byte[] out = new byte[Layout.LOG_SECTOR];
        ByteBuffer o = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        o.putLong(0, d.leadingBytes());
        System.arraycopy(buf, at + 8, out, 8, 4084);
        o.putInt(4092, d.trailingBytes());
        return out;
    }
}
