package dev.vublk.block.vhdx;

/** Fixed positions and units of the format. */
final class Layout {
    static final long KIB = 1024, MIB = 1024 * 1024;
    static final long FILE_ID_OFFSET = 0;
    static final long HEADER1_OFFSET = 64 * KIB, HEADER2_OFFSET = 128 * KIB;
    static final long REGION_TABLE1_OFFSET = 192 * KIB, REGION_TABLE2_OFFSET = 256 * KIB;
    static final int HEADER_SIZE = 4096;
    static final int REGION_TABLE_SIZE = (int) (64 * KIB);
    static final int METADATA_TABLE_SIZE = (int) (64 * KIB);
    /** The header section: nothing but the file identifier, headers and region tables below this. */
    static final long HEADER_SECTION = MIB;
    static final int LOG_SECTOR = 4096;
    /** The spec's largest virtual disk: 64 TiB. */
    static final long MAX_DISK_SIZE = 64L << 40;
    /** The spec's block sizes: a power of two from 1 MiB to 256 MiB. */
    static final int MIN_BLOCK = (int) MIB, MAX_BLOCK = (int) (256 * MIB);
    /** Sectors described by one 1 MiB sector bitmap block. */
    static final long SECTORS_PER_BITMAP = 1L << 23;

    private Layout() {}

    static long roundUp(long value, long unit) {
        return (value + unit - 1) / unit * unit;
    }
}
