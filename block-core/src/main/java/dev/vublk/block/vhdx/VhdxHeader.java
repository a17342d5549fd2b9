package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.UUID;

/**
 * One of the two 4 KiB headers. The current header is the valid one with the larger sequence
 * number; writers update the other one, so a torn header write leaves the old one in force.
 */
record VhdxHeader(long sequenceNumber, UUID fileWriteGuid, UUID dataWriteGuid, UUID logGuid,
                  int logVersion, int version, long logLength, long logOffset) {
    static final int SIGNATURE = 0x64616568; // "head"
    private static final int CHECKSUM_OFFSET = 4;

    /** The header in {@code block}, or null when its signature or checksum is wrong. */
    static VhdxHeader parseOrNull(byte[] block) {
        ByteBuffer b = ByteBuffer.wrap(block).order(ByteOrder.LITTLE_ENDIAN);
        if (block.length < Layout.HEADER_SIZE || b.getInt(0) != SIGNATURE
                || !Crc.valid(block, 0, Layout.HEADER_SIZE, CHECKSUM_OFFSET)) {
            return null;
        }
        return new VhdxHeader(b.getLong(8), MsGuid.read(b, 16), MsGuid.read(b, 32), MsGuid.read(b, 48),
                Short.toUnsignedInt(b.getShort(64)), Short.toUnsignedInt(b.getShort(66)),
                Integer.toUnsignedLong(b.getInt(68)), b.getLong(72));
    }

    /**
     * Picks the current header. Equal sequence numbers (written by some tools after a fresh
     * create) are accepted: both copies then claim to be current and the first is taken.
     */
    static VhdxHeader choose(VhdxHeader first, VhdxHeader second, Path path) throws ImageException {
        VhdxHeader h;
        if (first == null && second == null) {
            throw new ImageException(path, "both VHDX headers are damaged (bad signature or CRC-32C)");
        } else if (first == null) {
            h = second;
        } else if (second == null) {
            h = first;
        } else {
            h = Long.compareUnsigned(second.sequenceNumber, first.sequenceNumber) > 0 ? second : first;
        }
        h.validate(path);
        return h;
    }

    void validate(Path path) throws ImageException {
        if (version != 1) {
            throw new ImageException(path, "unsupported VHDX version " + version);
        }
        if (logVersion != 0 && !logGuid.equals(MsGuid.ZERO)) {
            throw new ImageException(path, "unsupported VHDX log version " + logVersion);
        }
        if (logOffset % Layout.MIB != 0 || logOffset < Layout.HEADER_SECTION || logLength % Layout.MIB != 0) {
            throw new ImageException(path, "log at " + logOffset + " length " + logLength
                    + " is not 1 MiB aligned or overlaps the header section");
        }
        if (logLength == 0 && !logGuid.equals(MsGuid.ZERO)) {
            throw new ImageException(path, "header has a log GUID but no log");
        }
    }

    /**
     * The log must lie inside the file even when empty: the first change of the image is logged
     * there, and a log past the end would stretch the file to wherever the header says.
     */
    void checkLogInside(long fileSize, Path path) throws ImageException {
        if (logLength > 0 && (logOffset > fileSize || logLength > fileSize - logOffset)) {
            throw new ImageException(path, "log [" + logOffset + ", +" + logLength + ") lies past the end of the file ("
                    + fileSize + " bytes)");
        }
    }

    boolean logPresent() {
        return !logGuid.equals(MsGuid.ZERO) && logLength > 0;
    }

    VhdxHeader next(UUID fileWrite, UUID dataWrite, UUID log) {
        return new VhdxHeader(sequenceNumber + 1, fileWrite, dataWrite, log, logVersion, version, logLength, logOffset);
    }

    byte[] encode() {
        byte[] block = new byte[Layout.HEADER_SIZE];
        ByteBuffer b = ByteBuffer.wrap(block).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, SIGNATURE);
        b.putLong(8, sequenceNumber);
        MsGuid.write(b, 16, fileWriteGuid);
        MsGuid.write(b, 32, dataWriteGuid);
        MsGuid.write(b, 48, logGuid);
        b.putShort(64, (short) logVersion);
        b.putShort(66, (short) version);
        b.putInt(68, (int) logLength);
        b.putLong(72, logOffset);
        Crc.seal(block, 0, Layout.HEADER_SIZE, CHECKSUM_OFFSET);
        return block;
    }
}
