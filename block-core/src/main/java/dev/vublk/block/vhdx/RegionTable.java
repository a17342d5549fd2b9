package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/** The 64 KiB region table: where the BAT and metadata regions are. */
record RegionTable(List<RegionTableEntry> entries) {
    static final int SIGNATURE = 0x69676572; // "regi"
    /** The spec's limit: the 64 KiB table holds a 16-byte header and 2047 entries of 32 bytes. */
    static final int MAX_ENTRIES = 2047;
    private static final int CHECKSUM_OFFSET = 4;

    /** Null when the signature or checksum is wrong (the other copy may be good). */
    static RegionTable parseOrNull(byte[] table) {
        ByteBuffer b = ByteBuffer.wrap(table).order(ByteOrder.LITTLE_ENDIAN);
        if (table.length < Layout.REGION_TABLE_SIZE || b.getInt(0) != SIGNATURE
                || !Crc.valid(table, 0, Layout.REGION_TABLE_SIZE, CHECKSUM_OFFSET)) {
            return null;
        }
        long count = Integer.toUnsignedLong(b.getInt(8));
        if (count > MAX_ENTRIES) {
            return new RegionTable(null); // marks a well-formed but invalid table; rejected in validate
        }
        List<RegionTableEntry> list = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int at = 16 + i * RegionTableEntry.SIZE;
            list.add(new RegionTableEntry(MsGuid.read(b, at), b.getLong(at + 16),
                    Integer.toUnsignedLong(b.getInt(at + 24)), (b.getInt(at + 28) & 1) != 0));
        }
        return new RegionTable(List.copyOf(list));
    }

    /** Checks everything the file depends on: known required regions, bounds, no overlaps. */
    void validate(Path path, long fileSize, VhdxHeader header) throws ImageException {
        if (entries == null) {
            throw new ImageException(path, "region table has more than " + MAX_ENTRIES + " entries");
        }
        List<long[]> ranges = new ArrayList<>();
        if (header.logLength() > 0) {
            ranges.add(new long[] {header.logOffset(), header.logOffset() + header.logLength()});
        }
        for (RegionTableEntry e : entries) {
            boolean known = e.guid().equals(KnownGuids.BAT_REGION) || e.guid().equals(KnownGuids.METADATA_REGION);
            if (!known && e.required()) {
                throw new ImageException(path, "unknown required region " + e.guid());
            }
            if (entries.stream().filter(o -> o.guid().equals(e.guid())).count() > 1) {
                throw new ImageException(path, "region " + e.guid() + " appears twice in the region table");
            }
            if (e.fileOffset() < Layout.HEADER_SECTION || e.fileOffset() % Layout.MIB != 0
                    || e.length() % Layout.MIB != 0 || e.length() == 0) {
                throw new ImageException(path, "region " + e.guid() + " at " + e.fileOffset() + " length "
                        + e.length() + " is not 1 MiB aligned, empty, or inside the header section");
            }
            if (e.fileOffset() > fileSize || e.length() > fileSize - e.fileOffset()) {
                throw new ImageException(path, "region " + e.guid() + " [" + e.fileOffset() + ", " + e.end()
                        + ") lies past the end of the file (" + fileSize + " bytes)");
            }
            for (long[] r : ranges) {
                if (e.fileOffset() < r[1] && r[0] < e.end()) {
                    throw new ImageException(path, "region " + e.guid() + " [" + e.fileOffset() + ", " + e.end()
                            + ") overlaps [" + r[0] + ", " + r[1] + ") (another region or the log)");
                }
            }
            ranges.add(new long[] {e.fileOffset(), e.end()});
        }
        find(KnownGuids.BAT_REGION, path);
        find(KnownGuids.METADATA_REGION, path);
    }

    RegionTableEntry find(UUID guid, Path path) throws ImageException {
        for (RegionTableEntry e : entries) {
            if (e.guid().equals(guid)) {
                return e;
            }
        }
        throw new ImageException(path, "required region " + guid + " is missing from the region table");
    }

    byte[] encode() {
        byte[] table = new byte[Layout.REGION_TABLE_SIZE];
        ByteBuffer b = ByteBuffer.wrap(table).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, SIGNATURE);
        b.putInt(8, entries.size());
        for (int i = 0; i < entries.size(); i++) {
            RegionTableEntry e = entries.get(i);
            int at = 16 + i * RegionTableEntry.SIZE;
            MsGuid.write(b, at, e.guid());
            b.putLong(at + 16, e.fileOffset());
            b.putInt(at + 24, (int) e.length());
            b.putInt(at + 28, e.required() ? 1 : 0);
        }
        Crc.seal(table, 0, Layout.REGION_TABLE_SIZE, CHECKSUM_OFFSET);
        return table;
    }
}
