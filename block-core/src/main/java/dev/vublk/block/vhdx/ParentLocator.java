package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/** The parent locator item of a differencing disk: a locator type and UTF-16 key/value pairs. */
record ParentLocator(UUID locatorType, Map<String, String> entries) {
    static final String LINKAGE = "parent_linkage", LINKAGE2 = "parent_linkage2",
            RELATIVE = "relative_path", VOLUME = "volume_path", ABSOLUTE = "absolute_win32_path";
    private static final int HEADER = 20, ENTRY = 12;

    static ParentLocator parse(byte[] item, Path path) throws ImageException {
        if (item.length < HEADER) {
            throw new ImageException(path, "parent locator item is " + item.length + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(item).order(ByteOrder.LITTLE_ENDIAN);
        UUID type = MsGuid.read(b, 0);
        int count = Short.toUnsignedInt(b.getShort(18));
        if (HEADER + (long) count * ENTRY > item.length) {
            throw new ImageException(path, "parent locator has " + count + " entries, more than its item holds");
        }
        // Writers lay keys and values out side by side after the entry table. Entries pointing into
        // shared text could otherwise decode 64 KiB strings from the same bytes tens of thousands of
        // times: the sum of their lengths is held to the item's text area (at most 1 MiB, the item limit).
        long textArea = item.length - HEADER - (long) count * ENTRY;
        long textBytes = 0;
        for (int i = 0; i < count; i++) {
            int at = HEADER + i * ENTRY;
            textBytes += Short.toUnsignedInt(b.getShort(at + 8)) + Short.toUnsignedInt(b.getShort(at + 10));
        }
        if (textBytes > textArea) {
            throw new ImageException(path, "parent locator's " + count + " keys and values of " + textBytes
                    + " bytes do not fit the " + textArea + " bytes of text its item holds (entries share text)");
        }
        Map<String, String> map = new LinkedHashMap<>();
        for (int i = 0; i < count; i++) {
            int at = HEADER + i * ENTRY;
            String key = text(item, b.getInt(at), b.getShort(at + 8), path);
            String value = text(item, b.getInt(at + 4), b.getShort(at + 10), path);
            if (map.put(key, value) != null) {
                throw new ImageException(path, "parent locator key '" + key + "' appears twice");
            }
        }
        return new ParentLocator(type, Collections.unmodifiableMap(map));
    }

    private static String text(byte[] item, int offset, short length, Path path) throws ImageException {
        long off = Integer.toUnsignedLong(offset);
        int len = Short.toUnsignedInt(length);
        if (off == 0 || len == 0 || len % 2 != 0 || off + len > item.length) {
            throw new ImageException(path, "parent locator entry at " + off + " length " + len + " is out of bounds");
        }
        return new String(item, (int) off, len, StandardCharsets.UTF_16LE);
    }

    /** The parent DataWriteGuid values this child accepts (linkage, and linkage2 if present). */
    List<UUID> linkages(Path path) throws ImageException {
        List<UUID> out = new ArrayList<>();
        for (String key : List.of(LINKAGE, LINKAGE2)) {
            String v = entries.get(key);
            if (v != null) {
                UUID g = MsGuid.parseBraced(v);
                if (g == null) {
                    throw new ImageException(path, "parent locator " + key + " '" + v + "' is not a GUID");
                }
                out.add(g);
            }
        }
        if (!entries.containsKey(LINKAGE)) {
            throw new ImageException(path, "parent locator has no parent_linkage");
        }
        return out;
    }

    byte[] encode() {
        List<byte[]> keys = new ArrayList<>(), values = new ArrayList<>();
        int size = HEADER + entries.size() * ENTRY;
        for (Map.Entry<String, String> e : entries.entrySet()) {
            keys.add(e.getKey().getBytes(StandardCharsets.UTF_16LE));
            values.add(e.getValue().getBytes(StandardCharsets.UTF_16LE));
            size += keys.getLast().length + values.getLast().length;
        }
        byte[] item = new byte[size];
        ByteBuffer b = ByteBuffer.wrap(item).order(ByteOrder.LITTLE_ENDIAN);
        MsGuid.write(b, 0, locatorType);
        b.putShort(18, (short) entries.size());
        int data = HEADER + entries.size() * ENTRY;
        for (int i = 0; i < keys.size(); i++) {
            int at = HEADER + i * ENTRY;
            b.putInt(at, data);
            b.putShort(at + 8, (short) keys.get(i).length);
            System.arraycopy(keys.get(i), 0, item, data, keys.get(i).length);
            data += keys.get(i).length;
            b.putInt(at + 4, data);
            b.putShort(at + 10, (short) values.get(i).length);
            System.arraycopy(values.get(i), 0, item, data, values.get(i).length);
            data += values.get(i).length;
        }
        return item;
    }
}
