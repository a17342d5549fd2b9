package dev.vublk.tests.frontend;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** The fields of {@code struct virtio_blk_config} a test checks, decoded from GET_CONFIG bytes. */
public record BlkConfigView(long capacity, int sizeMax, int segMax, int blkSize, int physicalBlockExp,
                            int writeback, int numQueues, int maxDiscardSectors, int maxDiscardSeg,
                            int discardSectorAlignment, int maxWriteZeroesSectors, int maxWriteZeroesSeg,
                            int writeZeroesMayUnmap) {
    public static final int WRITEBACK_OFFSET = 32, SIZE = 60;

    public static BlkConfigView decode(byte[] config) {
        if (config.length < SIZE) {
            throw new IllegalArgumentException("config of " + config.length + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(config).order(ByteOrder.LITTLE_ENDIAN);
        return new BlkConfigView(b.getLong(0), b.getInt(8), b.getInt(12), b.getInt(20), b.get(24) & 0xff,
                b.get(32) & 0xff, b.getShort(34) & 0xffff, b.getInt(36), b.getInt(40), b.getInt(44), b.getInt(48),
                b.getInt(52), b.get(56) & 0xff);
    }
}
