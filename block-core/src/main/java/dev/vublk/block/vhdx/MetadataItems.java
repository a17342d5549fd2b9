package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.UUID;

/**
 * The known metadata items of an image, validated together: block size, disk size, sector sizes,
 * disk id and (for differencing disks) the parent locator. {@code sizeItemOffset} is where the
 * virtual disk size item starts, relative to the metadata region: what a resize rewrites.
 */
record MetadataItems(FileParameters fileParameters, long virtualDiskSize, UUID virtualDiskId,
                     int logicalSectorSize, int physicalSectorSize, ParentLocator parentLocator, long sizeItemOffset) {

    /** Reads the items from the metadata region's bytes ({@code region} starts at the table). */
    static MetadataItems parse(byte[] region, Path path) throws ImageException {
        MetadataTable table = MetadataTable.parse(region, region.length, path);
        FileParameters params = FileParameters.parse(required(table, region, KnownGuids.FILE_PARAMETERS, 8, path), path);
        long size = le(required(table, region, KnownGuids.VIRTUAL_DISK_SIZE, 8, path)).getLong(0);
        UUID diskId = MsGuid.read(le(required(table, region, KnownGuids.VIRTUAL_DISK_ID, 16, path)), 0);
        int logical = le(required(table, region, KnownGuids.LOGICAL_SECTOR_SIZE, 4, path)).getInt(0);
        int physical = le(required(table, region, KnownGuids.PHYSICAL_SECTOR_SIZE, 4, path)).getInt(0);
        if (logical != 512 && logical != 4096) {
            throw new ImageException(path, "logical sector size " + Integer.toUnsignedString(logical) + " (must be 512 or 4096)");
        }
        if (physical != 512 && physical != 4096) {
            throw new ImageException(path, "physical sector size " + Integer.toUnsignedString(physical) + " (must be 512 or 4096)");
        }
        if (size <= 0 || size > Layout.MAX_DISK_SIZE || size % logical != 0) {
            throw new ImageException(path, "virtual disk size " + Long.toUnsignedString(size)
                    + " is not a positive multiple of the sector size up to 64 TiB");
        }
        ParentLocator locator = null;
        if (params.hasParent()) {
            MetadataTableEntry e = table.find(KnownGuids.PARENT_LOCATOR);
            if (e == null) {
                throw new ImageException(path, "differencing disk without a parent locator");
            }
            locator = ParentLocator.parse(slice(region, e), path);
            if (!locator.locatorType().equals(KnownGuids.VHDX_PARENT_LOCATOR_TYPE)) {
                throw new ImageException(path, "unsupported parent locator type " + locator.locatorType());
            }
        }
        long sizeAt = table.find(KnownGuids.VIRTUAL_DISK_SIZE).offset();
        return new MetadataItems(params, size, diskId, logical, physical, locator, sizeAt);
    }

    private static byte[] required(MetadataTable table, byte[] region, UUID id, int minLength, Path path) throws ImageException {
        MetadataTableEntry e = table.find(id);
        if (e == null) {
            throw new ImageException(path, "required metadata item " + id + " is missing");
        }
        if (e.length() < minLength) {
            throw new ImageException(path, "metadata item " + id + " is " + e.length() + " bytes, needs " + minLength);
        }
        return slice(region, e);
    }

    private static byte[] slice(byte[] region, MetadataTableEntry e) {
        return Arrays.copyOfRange(region, (int) e.offset(), (int) (e.offset() + e.length()));
    }

    private static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The same items for a disk resized to {@code bytes}. */
    MetadataItems withVirtualDiskSize(long bytes) {
        return new MetadataItems(fileParameters, bytes, virtualDiskId, logicalSectorSize, physicalSectorSize, parentLocator, sizeItemOffset);
    }

    BatLayout batLayout() {
        return BatLayout.of(virtualDiskSize, fileParameters.blockSize(), logicalSectorSize, fileParameters.hasParent());
    }
}
