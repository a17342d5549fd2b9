package dev.vublk.vhost;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/** {@code VhostUserMemoryRegion}: one guest RAM region, backed by the fd sent with the message. */
public record MemoryRegionDescriptor(long guestAddress, long size, long userAddress, long mmapOffset) {
    static MemoryRegionDescriptor decode(ByteBuffer b, int at) {
        return new MemoryRegionDescriptor(b.getLong(at), b.getLong(at + 8), b.getLong(at + 16), b.getLong(at + 24));
    }

    void encode(ByteBuffer b, int at) {
        b.putLong(at, guestAddress).putLong(at + 8, size).putLong(at + 16, userAddress).putLong(at + 24, mmapOffset);
    }

    /** ADD_MEM_REG / REM_MEM_REG payload: 8 bytes of padding, then one region. */
    public static MemoryRegionDescriptor decodeSingle(ByteBuffer b) {
        return decode(b, 8);
    }

    public ByteBuffer encodeSingle() {
        ByteBuffer b = Payloads.allocate(Payloads.SINGLE_REGION);
        encode(b, 8);
        return b;
    }

    /**
     * SET_MEM_TABLE payload: a count, padding, then exactly that many regions (1 to
     * {@value Payloads#MAX_TABLE_REGIONS}); null when the count is out of range or the size is not
     * exactly what the count needs.
     */
    public static List<MemoryRegionDescriptor> decodeTable(ByteBuffer b, int size) {
        if (size < 8) {
            return null;
        }
        int count = b.getInt(0);
        if (count < 1 || count > Payloads.MAX_TABLE_REGIONS || size != 8 + count * Payloads.REGION) {
            return null;
        }
        List<MemoryRegionDescriptor> regions = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            regions.add(decode(b, 8 + i * Payloads.REGION));
        }
        return regions;
    }

    public static ByteBuffer encodeTable(List<MemoryRegionDescriptor> regions) {
        ByteBuffer b = Payloads.allocate(8 + regions.size() * Payloads.REGION);
        b.putInt(0, regions.size());
        for (int i = 0; i < regions.size(); i++) {
            regions.get(i).encode(b, 8 + i * Payloads.REGION);
        }
        return b;
    }
}
