package dev.vublk.block.qcow2;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Names of feature bits: the spec's own, overlaid by the image's feature name table, so that a
 * refusal can say which unknown feature an image needs rather than just a bit number.
 */
public final class FeatureNames {
    public static final int INCOMPATIBLE = 0, COMPATIBLE = 1, AUTOCLEAR = 2;
    private static final int ENTRY = 48;

    private final Map<Integer, String> names = new HashMap<>();

    private FeatureNames() {
        put(INCOMPATIBLE, 0, "dirty bit");
        put(INCOMPATIBLE, 1, "corrupt bit");
        put(INCOMPATIBLE, 2, "external data file");
        put(INCOMPATIBLE, 3, "compression type");
        put(INCOMPATIBLE, 4, "extended L2 entries");
        put(COMPATIBLE, 0, "lazy refcounts");
        put(AUTOCLEAR, 0, "bitmaps");
        put(AUTOCLEAR, 1, "raw external data");
    }

    /** The spec's names plus whatever the image's table says (the image's names win). */
    public static FeatureNames of(List<HeaderExtension> extensions) {
        FeatureNames f = new FeatureNames();
        for (HeaderExtension e : extensions) {
            if (e.type() != HeaderExtension.FEATURE_NAME_TABLE) {
                continue;
            }
            byte[] d = e.data();
            for (int at = 0; at + ENTRY <= d.length; at += ENTRY) {
                int type = d[at] & 0xff;
                int bit = d[at + 1] & 0xff;
                int end = at + 2;
                while (end < at + ENTRY && d[end] != 0) {
                    end++;
                }
                String name = new String(d, at + 2, end - at - 2, StandardCharsets.UTF_8).strip();
                if (type <= AUTOCLEAR && bit < 64 && !name.isEmpty()) {
                    f.put(type, bit, name);
                }
            }
        }
        return f;
    }

    private void put(int type, int bit, String name) {
        names.put(type * 64 + bit, name);
    }

    public String name(int type, int bit) {
        String n = names.get(type * 64 + bit);
        return n != null ? n : "unknown feature bit " + bit;
    }

    /** "bit 5 (name), bit 9 (unknown feature bit 9)" for every set bit of {@code bits}. */
    public String describe(int type, long bits) {
        List<String> parts = new ArrayList<>();
        for (int bit = 0; bit < 64; bit++) {
            if ((bits & (1L << bit)) != 0) {
                parts.add("bit " + bit + " (" + name(type, bit) + ")");
            }
        }
        return String.join(", ", parts);
    }
}
