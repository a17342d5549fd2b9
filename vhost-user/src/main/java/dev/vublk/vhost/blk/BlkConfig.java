package dev.vublk.vhost.blk;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * {@code struct virtio_blk_config} (virtio 1.2, 5.2.4), byte for byte. Two fields change after
 * start: {@code writeback}, which the driver may toggle when CONFIG_WCE is negotiated, and
 * {@code capacity}, on an online resize.
 */
public final class BlkConfig {
    public static final int SIZE = 96;
    public static final int ID_BYTES = 20;
    static final int CAPACITY = 0, SIZE_MAX = 8, SEG_MAX = 12, BLK_SIZE = 20, PHYSICAL_BLOCK_EXP = 24,
            ALIGNMENT_OFFSET = 25, MIN_IO_SIZE = 26, OPT_IO_SIZE = 28, WRITEBACK = 32, NUM_QUEUES = 34,
            MAX_DISCARD_SECTORS = 36, MAX_DISCARD_SEG = 40, DISCARD_SECTOR_ALIGNMENT = 44,
            MAX_WRITE_ZEROES_SECTORS = 48, MAX_WRITE_ZEROES_SEG = 52, WRITE_ZEROES_MAY_UNMAP = 56;

    /** Largest single data buffer accepted: 1 MiB, like the Linux driver's default. */
    public static final int MAX_SEGMENT_BYTES = 1 << 20;
    /** Segments in one request within the descriptors of a chain. */
    public static final int MAX_DISCARD_SEGMENTS = 32;
    /** Sectors per discard / write-zeroes segment: 1 GiB keeps one fallocate call short. */
    public static final int MAX_ZERO_SECTORS = 1 << 21;

    private final ByteBuffer bytes = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
    /** The writeback byte, readable by queue threads on every write without taking the lock. */
    private volatile boolean writeback;

    BlkConfig(long capacityBytes, int logicalBlockSize, int physicalBlockSize, int segMax, int numQueues,
              boolean writeback) {
        bytes.putLong(CAPACITY, capacityBytes / 512);
        bytes.putInt(SIZE_MAX, MAX_SEGMENT_BYTES);
        bytes.putInt(SEG_MAX, segMax);
        bytes.putInt(BLK_SIZE, logicalBlockSize);
        bytes.put(PHYSICAL_BLOCK_EXP, (byte) Integer.numberOfTrailingZeros(Math.max(1, physicalBlockSize / logicalBlockSize)));
        bytes.put(ALIGNMENT_OFFSET, (byte) 0);
        bytes.putShort(MIN_IO_SIZE, (short) 1);
        bytes.putInt(OPT_IO_SIZE, 0);
        bytes.put(WRITEBACK, (byte) (writeback ? 1 : 0));
        this.writeback = writeback;
        bytes.putShort(NUM_QUEUES, (short) numQueues);
        bytes.putInt(MAX_DISCARD_SECTORS, MAX_ZERO_SECTORS);
        bytes.putInt(MAX_DISCARD_SEG, MAX_DISCARD_SEGMENTS);
        bytes.putInt(DISCARD_SECTOR_ALIGNMENT, logicalBlockSize / 512);
        bytes.putInt(MAX_WRITE_ZEROES_SECTORS, MAX_ZERO_SECTORS);
        bytes.putInt(MAX_WRITE_ZEROES_SEG, MAX_DISCARD_SEGMENTS);
        bytes.put(WRITE_ZEROES_MAY_UNMAP, (byte) 1);
    }

    /** The capacity in 512-byte sectors, as virtio counts it, whatever the logical block size. */
    synchronized void setCapacity(long capacityBytes) {
        if (capacityBytes < 0 || capacityBytes % 512 != 0) {
            throw new IllegalArgumentException("capacity of " + capacityBytes + " bytes is not a whole number of sectors");
        }
        bytes.putLong(CAPACITY, capacityBytes / 512);
    }

    synchronized byte[] toArray() {
        return bytes.array().clone();
    }

    boolean writeback() {
        return writeback;
    }

    /** Only the one-byte writeback field is writable; any other write is refused. */
    synchronized boolean write(int offset, byte[] data) {
        if (offset == WRITEBACK && data.length == 1 && (data[0] == 0 || data[0] == 1)) {
            bytes.put(WRITEBACK, data[0]);
            writeback = data[0] != 0;
            return true;
        }
        return false;
    }
}
