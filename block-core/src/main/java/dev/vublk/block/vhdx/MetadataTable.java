package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;

/** The 64 KiB table at the start of the metadata region. */
record MetadataTable(List<MetadataTableEntry> entries) {
    static final long SIGNATURE = 0x617461646174656DL; // "metadata"
    /** The spec's limit: the 64 KiB table holds a 32-byte header and 2047 entries of 32 bytes. */
    static final int MAX_ENTRIES = 2047;
    /** The spec's limit on one item's length. */
    static final long MAX_ITEM = Layout.MIB;
    /**
     * The whole region is read into memory at open. Writers make it 1 MiB (qemu, Hyper-V and the
     * creator); 64 MiB leaves room for many user items and keeps a crafted region table from
     * making the open allocate up to the 4 GiB its 32-bit length allows.
     */
    static final long MAX_REGION = 64 * Layout.MIB;
    private static final Set<UUID> KNOWN = Set.of(KnownGuids.FILE_PARAMETERS, KnownGuids.VIRTUAL_DISK_SIZE,
            KnownGuids.VIRTUAL_DISK_ID, KnownGuids.LOGICAL_SECTOR_SIZE, KnownGuids.PHYSICAL_SECTOR_SIZE,
            KnownGuids.PARENT_LOCATOR);

    static MetadataTable parse(byte[] table, long regionLength, Path path) throws ImageException {
        ByteBuffer b = ByteBuffer.wrap(table).order(ByteOrder.LITTLE_ENDIAN);
        if (b.getLong(0) != SIGNATURE) {
            throw new ImageException(path, "metadata table has no 'metadata' signature");
        }
        int count = Short.toUnsignedInt(b.getShort(10));
        if (count > MAX_ENTRIES) {
            throw new ImageException(path, "metadata table has " + count + " entries (at most " + MAX_ENTRIES + ")");
        }
        List<MetadataTableEntry> list = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int at = 32 + i * MetadataTableEntry.SIZE;
            int flags = b.getInt(at + 24);
            MetadataTableEntry e = new MetadataTableEntry(MsGuid.read(b, at), Integer.toUnsignedLong(b.getInt(at + 16)),
                    Integer.toUnsignedLong(b.getInt(at + 20)), (flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0);
            if (e.length() > MAX_ITEM || (e.length() == 0 && e.offset() != 0)
                    || (e.length() > 0 && (e.offset() < Layout.METADATA_TABLE_SIZE || e.offset() + e.length() > regionLength))) {
                throw new ImageException(path, "metadata item " + e.itemId() + " at " + e.offset() + " length "
                        + e.length() + " does not fit the metadata region");
            }
            if (e.isRequired() && !e.isUser() && !KNOWN.contains(e.itemId())) {
                throw new ImageException(path, "unknown required metadata item " + e.itemId());
            }
            for (MetadataTableEntry o : list) {
                if (o.itemId().equals(e.itemId()) && o.isUser() == e.isUser()) {
                    throw new ImageException(path, "metadata item " + e.itemId() + " appears twice");
                }
                if (e.length() > 0 && o.length() > 0 && e.offset() < o.offset() + o.length() && o.offset() < e.offset() + e.length()) {
                    throw new ImageException(path, "metadata items " + o.itemId() + " and " + e.itemId() + " overlap");
                }
            }
            list.add(e);
        }
        return new MetadataTable(List.copyOf(list));
    }

    /** The system (non-user) item with this id, or null. */
    MetadataTableEntry find(UUID id) {
        for (MetadataTableEntry e : entries) {
            if (e.itemId().equals(id) && !e.isUser()) {
                return e;
            }
        }
        return null;
    }

    byte[] encode() {
        byte[] table = new byte[Layout.METADATA_TABLE_SIZE];
        ByteBuffer b = ByteBuffer.wrap(table).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0, SIGNATURE);
        b.putShort(10, (short) entries.size());
        for (int i = 0; i < entries.size(); i++) {
            MetadataTableEntry e = entries.get(i);
            int at = 32 + i * MetadataTableEntry.SIZE;
            MsGuid.write(b, at, e.itemId());
            b.putInt(at + 16, (int) e.offset());
            b.putInt(at + 20, (int) e.length());
            b.putInt(at + 24, (e.isUser() ? 1 : 0) | (e.isVirtualDisk() ? 2 : 0) | (e.isRequired() ? 4 : 0));
        }
        return table;
    }
}
