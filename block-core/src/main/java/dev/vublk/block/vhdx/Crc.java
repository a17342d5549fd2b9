package dev.vublk.block.vhdx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/** CRC-32C over a structure whose 4-byte checksum field counts as zero. */
final class Crc {
    private Crc() {}

    static int compute(byte[] data, int offset, int length, int checksumFieldOffset) {
        CRC32C crc = new CRC32C();
        int field = offset + checksumFieldOffset;
        crc.update(data, offset, field - offset);
        crc.update(new byte[4], 0, 4);
        crc.update(data, field + 4, offset + length - field - 4);
        return (int) crc.getValue();
    }

    static int stored(byte[] data, int checksumOffset) {
        return ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).getInt(checksumOffset);
    }

    /** Computes and stores the checksum of {@code data[offset, offset+length)}. */
    static void seal(byte[] data, int offset, int length, int checksumFieldOffset) {
        int c = compute(data, offset, length, checksumFieldOffset);
        ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).putInt(offset + checksumFieldOffset, c);
    }

    static boolean valid(byte[] data, int offset, int length, int checksumFieldOffset) {
        return compute(data, offset, length, checksumFieldOffset)
                == ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).getInt(offset + checksumFieldOffset);
    }
}
