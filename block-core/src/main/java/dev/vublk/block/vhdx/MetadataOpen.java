package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import dev.vublk.uring.NativeFile;
import java.io.EOFException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Opening a VHDX's metadata: file identifier, headers, log replay (through a second, writable
 * descriptor when allowed for a read-only open), region tables, metadata items and the BAT,
 * each validated against the file, then the sector bitmaps of partially present blocks cached.
 */
final class MetadataOpen {
    private MetadataOpen() {}

    /** @param cacheBytes sector bitmap cache budget (0: the default) */
    static VhdxMetadata open(NativeFile file, Path path, boolean replayReadOnly, long cacheBytes) throws IOException {
        try {
            FileIdentifier.parse(file.readBytes(Layout.FILE_ID_OFFSET, FileIdentifier.SIZE), path);
            Headers headers = Headers.read(file, path);
            List<LogEntry> pending = LogReplay.pending(file, headers.current(), path);
            if (!pending.isEmpty()) {
                headers = replay(file, path, headers, pending, replayReadOnly);
            }
            long fileSize = file.size();
            VhdxHeader header = headers.current();
            header.checkLogInside(fileSize, path);
            RegionTable regions = readRegions(file, path, fileSize, header);
            RegionTableEntry metaRegion = regions.find(KnownGuids.METADATA_REGION, path);
            if (metaRegion.length() > MetadataTable.MAX_REGION) {
                throw new ImageException(path, "metadata region of " + metaRegion.length() + " bytes is larger than the "
                        + MetadataTable.MAX_REGION + " bytes read into memory");
            }
            MetadataItems items = MetadataItems.parse(file.readBytes(metaRegion.fileOffset(), (int) metaRegion.length()), path);
            RegionTableEntry batRegion = regions.find(KnownGuids.BAT_REGION, path);
            BatTable bat = BatTable.read(file, batRegion, items.batLayout(), path);
            List<long[]> reserved = new ArrayList<>();
            reserved.add(new long[] {header.logOffset(), header.logOffset() + header.logLength()});
            for (RegionTableEntry e : regions.entries()) {
                reserved.add(new long[] {e.fileOffset(), e.end()});
            }
            bat.validate(items.fileParameters().hasParent(), fileSize, reserved.toArray(long[][]::new), path);
            VhdxMetadata m = new VhdxMetadata(path, file, headers, metaRegion, items, bat, fileSize, cacheBytes);
            m.warmBitmaps();
            return m;
        } catch (EOFException e) {
            throw new ImageException(path, "file ends inside a VHDX structure: " + e.getMessage(), e);
        }
    }

    private static Headers replay(NativeFile file, Path path, Headers headers, List<LogEntry> pending, boolean replayReadOnly)
            throws IOException {
        if (file.writable()) {
            LogReplay.apply(file, pending);
            VhdxHeader h = headers.current();
            headers.update(MsGuid.random(), h.dataWriteGuid(), MsGuid.ZERO);
            return headers;
        }
        if (!replayReadOnly) {
            throw new ImageException(path, "the VHDX log holds " + pending.size() + " entr" + (pending.size() == 1 ? "y" : "ies")
                    + " that must be replayed, but the image is open read-only; open it read-write once (or allow"
                    + " replay of read-only images) to replay the log");
        }
        try (NativeFile writable = NativeFile.open(path, true, false)) {
            Headers w = Headers.read(writable, path);
            List<LogEntry> again = LogReplay.pending(writable, w.current(), path);
            LogReplay.apply(writable, again);
            w.update(MsGuid.random(), w.current().dataWriteGuid(), MsGuid.ZERO);
        }
        return Headers.read(file, path);
    }

    private static RegionTable readRegions(NativeFile file, Path path, long fileSize, VhdxHeader header) throws IOException {
        RegionTable first = RegionTable.parseOrNull(file.readBytes(Layout.REGION_TABLE1_OFFSET, Layout.REGION_TABLE_SIZE));
        RegionTable table = first != null ? first
                : RegionTable.parseOrNull(file.readBytes(Layout.REGION_TABLE2_OFFSET, Layout.REGION_TABLE_SIZE));
        if (table == null) {
            throw new ImageException(path, "both region tables are damaged (bad signature or CRC-32C)");
        }
        table.validate(path, fileSize, header);
        return table;
    }
}
