package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/** The file parameters item: block size and the fixed/differencing flags. */
record FileParameters(int blockSize, boolean leaveBlocksAllocated, boolean hasParent) {
    static final int SIZE = 8;

    static FileParameters parse(byte[] item, Path path) throws ImageException {
        if (item.length < SIZE) {
            throw new ImageException(path, "file parameters item is " + item.length + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(item).order(ByteOrder.LITTLE_ENDIAN);
        long block = Integer.toUnsignedLong(b.getInt(0));
        if (block < Layout.MIN_BLOCK || block > Layout.MAX_BLOCK || Long.bitCount(block) != 1) {
            throw new ImageException(path, "block size " + block + " is not a power of two between 1 MiB and 256 MiB");
        }
        int flags = b.getInt(4);
        return new FileParameters((int) block, (flags & 1) != 0, (flags & 2) != 0);
    }

    byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, blockSize);
        b.putInt(4, (leaveBlocksAllocated ? 1 : 0) | (hasParent ? 2 : 0));
        return b.array();
    }
}
