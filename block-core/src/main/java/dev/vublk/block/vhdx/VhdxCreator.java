package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import dev.vublk.block.ImageOptions;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Creates dynamic, fixed and differencing VHDX images:
 * {@code VhdxCreator.create(path).size(1 << 30).blockSize(4 << 20).write()}, or
 * {@code VhdxCreator.create(child).parent(base).write()} for a differencing disk that takes its
 * size and sector sizes from the parent. Layout: header section, log at 1 MiB, metadata region,
 * BAT, then payload blocks (fixed disks only; dynamic ones grow on write).
 */
public final class VhdxCreator {
    private static final long LOG_OFFSET = Layout.MIB;

    private final Path path;
    private long size = -1;
    private int blockSize = 0;
    private int logicalSectorSize = 0;
    private int physicalSectorSize = 0;
    private boolean fixed;
    private Path parent;
    private long logSize = Layout.MIB;

    private VhdxCreator(Path path) {
        this.path = path;
    }

    public static VhdxCreator create(Path path) {
        return new VhdxCreator(path);
    }

    /** Virtual disk size in bytes; a differencing disk defaults to its parent's. */
    public VhdxCreator size(long bytes) { this.size = bytes; return this; }

    /** Payload block size: a power of two from 1 MiB to 256 MiB (default 32 MiB, 2 MiB for differencing). */
    public VhdxCreator blockSize(int bytes) { this.blockSize = bytes; return this; }

    public VhdxCreator logicalSectorSize(int bytes) { this.logicalSectorSize = bytes; return this; }

    public VhdxCreator physicalSectorSize(int bytes) { this.physicalSectorSize = bytes; return this; }

    /** Every block allocated up front (the file is created sparse). */
    public VhdxCreator fixed() { this.fixed = true; return this; }

    /** Makes a differencing disk over {@code parentImage}. */
    public VhdxCreator parent(Path parentImage) { this.parent = parentImage; return this; }

    public VhdxCreator logSize(long bytes) { this.logSize = bytes; return this; }

    public void write() throws IOException {
        UUID parentDataWrite = null;
        if (parent != null) {
            if (fixed) {
                throw new IllegalArgumentException("a differencing disk cannot be fixed");
            }
            try (VhdxImage p = VhdxImage.open(parent, ImageOptions.defaults().withReadOnly(true))) {
                parentDataWrite = p.metadata().dataWriteGuid();
                size = size < 0 ? p.size() : size;
                if (logicalSectorSize != 0 && logicalSectorSize != p.metadata().logicalSectorSize()) {
                    throw new IllegalArgumentException("logical sector size must match the parent's");
                }
                logicalSectorSize = p.metadata().logicalSectorSize();
                physicalSectorSize = physicalSectorSize == 0 ? p.metadata().physicalSectorSize() : physicalSectorSize;
            }
        }
        int block = blockSize != 0 ? blockSize : parent != null ? 2 << 20 : 32 << 20;
        int logical = logicalSectorSize != 0 ? logicalSectorSize : 512;
        int physical = physicalSectorSize != 0 ? physicalSectorSize : 4096;
        validate(block, logical, physical);

        FileParameters params = new FileParameters(block, fixed, parent != null);
        BatLayout layout = BatLayout.of(size, block, logical, parent != null);
        long metaOffset = LOG_OFFSET + logSize;
        long metaLength = Layout.MIB;
        long batOffset = metaOffset + metaLength;
        long batLength = layout.regionBytes();
        long dataStart = batOffset + batLength;

        try (NativeFile file = NativeFile.create(path)) {
            file.writeBytes(Layout.FILE_ID_OFFSET, new FileIdentifier("vublk").encode());
            UUID fileWrite = MsGuid.random(), dataWrite = MsGuid.random();
            VhdxHeader h1 = new VhdxHeader(1, fileWrite, dataWrite, MsGuid.ZERO, 0, 1, logSize, LOG_OFFSET);
            file.writeBytes(Layout.HEADER1_OFFSET, h1.encode());
            file.writeBytes(Layout.HEADER2_OFFSET, h1.next(fileWrite, dataWrite, MsGuid.ZERO).encode());
            byte[] regions = new RegionTable(List.of(
                    new RegionTableEntry(KnownGuids.BAT_REGION, batOffset, batLength, true),
                    new RegionTableEntry(KnownGuids.METADATA_REGION, metaOffset, metaLength, true))).encode();
            file.writeBytes(Layout.REGION_TABLE1_OFFSET, regions);
            file.writeBytes(Layout.REGION_TABLE2_OFFSET, regions);
            file.writeBytes(metaOffset, metadataRegion(params, logical, physical, parentDataWrite));
            long end = dataStart;
            if (fixed) {
                writeFixedBat(file, layout, batOffset, dataStart);
                end = dataStart + layout.payloadBlocks() * block;
            }
            file.truncate(end);
            file.fsync();
        }
    }

    private void validate(int block, int logical, int physical) throws ImageException {
        if (block < Layout.MIN_BLOCK || block > Layout.MAX_BLOCK || Integer.bitCount(block) != 1) {
            throw new IllegalArgumentException("block size " + block + " is not a power of two from 1 MiB to 256 MiB");
        }
        if ((logical != 512 && logical != 4096) || (physical != 512 && physical != 4096)) {
            throw new IllegalArgumentException("sector sizes must be 512 or 4096");
        }
        if (size <= 0 || size % logical != 0 || size > Layout.MAX_DISK_SIZE) {
            throw new IllegalArgumentException("size " + size + " is not a positive multiple of " + logical + " up to 64 TiB");
        }
        if (logSize < Layout.MIB || logSize % Layout.MIB != 0 || logSize > LogReplay.MAX_LOG) {
            throw new IllegalArgumentException("log size must be whole MiB, 1 to 64");
        }
        if (parent != null && path.toAbsolutePath().normalize().equals(parent.toAbsolutePath().normalize())) {
            throw new ImageException(path, "an image cannot be its own parent");
        }
    }

    private byte[] metadataRegion(FileParameters params, int logical, int physical, UUID parentDataWrite) {
        byte[] region = new byte[(int) Layout.MIB];
        List<MetadataTableEntry> entries = new ArrayList<>();
        long[] at = {Layout.METADATA_TABLE_SIZE};
        ItemWriter put = (id, data, virtualDisk) -> {
            System.arraycopy(data, 0, region, (int) at[0], data.length);
            entries.add(new MetadataTableEntry(id, at[0], data.length, false, virtualDisk, true));
            at[0] += Layout.roundUp(data.length, 8);
        };
        put.add(KnownGuids.FILE_PARAMETERS, params.encode(), false);
        put.add(KnownGuids.VIRTUAL_DISK_SIZE, le(8).putLong(0, size).array(), true);
        ByteBuffer id = ByteBuffer.allocate(16);
        MsGuid.write(id, 0, MsGuid.random());
        put.add(KnownGuids.VIRTUAL_DISK_ID, id.array(), true);
        put.add(KnownGuids.LOGICAL_SECTOR_SIZE, le(4).putInt(0, logical).array(), true);
        put.add(KnownGuids.PHYSICAL_SECTOR_SIZE, le(4).putInt(0, physical).array(), true);
        if (parent != null) {
            Map<String, String> kv = new LinkedHashMap<>();
            kv.put(ParentLocator.LINKAGE, MsGuid.braced(parentDataWrite));
            kv.put(ParentLocator.RELATIVE, ParentPaths.relative(path, parent));
            kv.put(ParentLocator.ABSOLUTE, ParentPaths.absolute(parent));
            put.add(KnownGuids.PARENT_LOCATOR, new ParentLocator(KnownGuids.VHDX_PARENT_LOCATOR_TYPE, kv).encode(), false);
        }
        byte[] table = new MetadataTable(entries).encode();
        System.arraycopy(table, 0, region, 0, table.length);
        return region;
    }

    @FunctionalInterface
    private interface ItemWriter {
        void add(UUID id, byte[] data, boolean virtualDisk);
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static void writeFixedBat(NativeFile file, BatLayout layout, long batOffset, long dataStart) throws IOException {
        int perChunk = (int) (Layout.MIB / 8);
        for (long first = 0; first < layout.totalEntries(); first += perChunk) {
            int n = (int) Math.min(perChunk, layout.totalEntries() - first);
            ByteBuffer b = le(n * 8);
            for (int i = 0; i < n; i++) {
                long index = first + i;
                long cr = layout.chunkRatio();
                if (index % (cr + 1) != cr) { // payload entry, not a sector bitmap entry
                    long block = index - index / (cr + 1);
                    b.putLong(i * 8, BatEntry.encode(BatEntry.FULLY_PRESENT, dataStart + block * layout.blockSize()));
                }
            }
            file.writeBytes(batOffset + first * 8, b.array());
        }
    }
}
