package dev.vublk.block.vhdx;

/**
 * The shape of a BAT: payload entries interleaved with one sector bitmap entry after every
 * {@code chunkRatio} payload entries.
 */
record BatLayout(long virtualSize, int blockSize, int logicalSectorSize, long chunkRatio,
                 long payloadBlocks, long bitmapBlocks, long totalEntries) {

    static BatLayout of(long virtualSize, int blockSize, int logicalSectorSize, boolean differencing) {
        long chunkRatio = Layout.SECTORS_PER_BITMAP * logicalSectorSize / blockSize;
        long payload = (virtualSize + blockSize - 1) / blockSize;
        long bitmaps = (payload + chunkRatio - 1) / chunkRatio;
        long total = differencing ? bitmaps * (chunkRatio + 1) : payload + (payload - 1) / chunkRatio;
        return new BatLayout(virtualSize, blockSize, logicalSectorSize, chunkRatio, payload, bitmaps, total);
    }

    long payloadIndex(long block) {
        return block + block / chunkRatio;
    }

    long bitmapIndex(long chunk) {
        return chunk * (chunkRatio + 1) + chunkRatio;
    }

    long sectorsPerBlock() {
        return blockSize / logicalSectorSize;
    }

    /** Bytes of the BAT region actually used, rounded to whole MiB as the region must be. */
    long regionBytes() {
        return Layout.roundUp(totalEntries * 8, Layout.MIB);
    }
}
