package dev.vublk.block.vhdx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Locale;
import java.util.UUID;

/**
 * GUIDs as MS-VHDX stores them: Data1/Data2/Data3 little-endian, Data4 as bytes. Held as
 * {@link UUID} so the usual textual form ("2DC27766-F623-...") means the same GUID here as in
 * the specification's tables.
 */
final class MsGuid {
    static final UUID ZERO = new UUID(0, 0);

    private MsGuid() {}

    static UUID read(ByteBuffer b, int offset) {
        ByteBuffer le = b.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long d1 = Integer.toUnsignedLong(le.getInt(offset));
        long d2 = Short.toUnsignedLong(le.getShort(offset + 4));
        long d3 = Short.toUnsignedLong(le.getShort(offset + 6));
        long d4 = b.duplicate().order(ByteOrder.BIG_ENDIAN).getLong(offset + 8);
        return new UUID(d1 << 32 | d2 << 16 | d3, d4);
    }

    static void write(ByteBuffer b, int offset, UUID guid) {
        ByteBuffer le = b.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long msb = guid.getMostSignificantBits();
        le.putInt(offset, (int) (msb >>> 32));
        le.putShort(offset + 4, (short) (msb >>> 16));
        le.putShort(offset + 6, (short) msb);
        b.duplicate().order(ByteOrder.BIG_ENDIAN).putLong(offset + 8, guid.getLeastSignificantBits());
    }

    /** The parent-linkage form: braces, lower case. */
    static String braced(UUID guid) {
        return "{" + guid.toString().toLowerCase(Locale.ROOT) + "}";
    }

    /** Parses "{xxxxxxxx-...}" in either case; null when it is not a GUID. */
    static UUID parseBraced(String text) {
        String t = text.strip();
        if (t.length() != 38 || t.charAt(0) != '{' || t.charAt(37) != '}') {
            return null;
        }
        try {
            return UUID.fromString(t.substring(1, 37));
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    static UUID random() {
        UUID u;
        do {
            u = UUID.randomUUID();
        } while (u.equals(ZERO));
        return u;
    }
}
