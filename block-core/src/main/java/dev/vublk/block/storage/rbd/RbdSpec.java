package dev.vublk.block.storage.rbd;

import dev.vublk.block.ImageException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * QEMU's RBD filename syntax, which operators already know:
 * {@code rbd:POOL[/NAMESPACE]/IMAGE[@SNAPSHOT][:conf=PATH][:id=USER][:KEY=VALUE]...}. A backslash
 * takes the next character literally ({@code \:}, {@code \@}, {@code \/}, {@code \\}). Options
 * other than {@code conf} and {@code id} are Ceph settings, set in order on the client as
 * {@code rados_conf_set} would (for example {@code mon_host=10.0.0.1}).
 *
 * @param namespace null for the pool's default namespace
 * @param snapshot null for the image's head
 * @param conf null for Ceph's default search path ({@code $CEPH_CONF}, /etc/ceph/ceph.conf)
 * @param id the client's user without {@code client.}; null for {@code admin}
 */
public record RbdSpec(String pool, String namespace, String image, String snapshot, String conf, String id,
                      List<Map.Entry<String, String>> options) {
    public static final String PREFIX = "rbd:";

    /** Parses {@code spec}; refuses with an {@link ImageException} naming what is wrong. */
    public static RbdSpec parse(String spec) throws ImageException {
        if (!spec.startsWith(PREFIX)) {
            throw new ImageException(spec, "not an RBD image name (rbd:POOL/IMAGE[@SNAPSHOT][:KEY=VALUE]...)");
        }
        List<String> parts = split(spec, spec.substring(PREFIX.length()), ':');
        List<String> path = split(spec, parts.get(0), '/');
        if (path.size() < 2 || path.size() > 3) {
            throw new ImageException(spec, "expected POOL/IMAGE or POOL/NAMESPACE/IMAGE before the first ':'");
        }
        List<String> imageAndSnap = split(spec, path.getLast(), '@');
        if (imageAndSnap.size() > 2) {
            throw new ImageException(spec, "more than one '@' (escape a literal one as \\@)");
        }
        String pool = nonEmpty(spec, "pool", path.get(0));
        String namespace = path.size() == 3 ? nonEmpty(spec, "namespace", path.get(1)) : null;
        String image = nonEmpty(spec, "image", imageAndSnap.get(0));
        String snapshot = imageAndSnap.size() == 2 ? nonEmpty(spec, "snapshot", imageAndSnap.get(1)) : null;

        String conf = null, id = null;
        List<Map.Entry<String, String>> options = new ArrayList<>();
        for (String option : parts.subList(1, parts.size())) {
            int eq = indexOfUnescaped(option, '=');
            if (eq <= 0) {
                throw new ImageException(spec, "option '" + unescape(spec, option) + "' is not KEY=VALUE");
            }
            String key = unescape(spec, option.substring(0, eq));
            String value = unescape(spec, option.substring(eq + 1));
            switch (key) {
                case "conf" -> conf = once(spec, key, conf, value);
                case "id" -> id = once(spec, key, id, value);
                default -> options.add(Map.entry(key, value));
            }
        }
        return new RbdSpec(unescape(spec, pool), namespace == null ? null : unescape(spec, namespace),
                unescape(spec, image), snapshot == null ? null : unescape(spec, snapshot), conf, id, List.copyOf(options));
    }

    /** {@code rbd:POOL[/NAMESPACE]/IMAGE[@SNAPSHOT]}: the image, without options (no secrets in messages). */
    public String location() {
        return PREFIX + pool + "/" + (namespace == null ? "" : namespace + "/") + image
                + (snapshot == null ? "" : "@" + snapshot);
    }

    /** The Ceph entity the client authenticates as. */
    public String entity() {
        return "client." + (id == null ? "admin" : id);
    }

    private static String nonEmpty(String spec, String what, String value) throws ImageException {
        if (value.isEmpty()) {
            throw new ImageException(spec, "empty " + what + " name");
        }
        return value;
    }

    private static String once(String spec, String key, String previous, String value) throws ImageException {
        if (previous != null) {
            throw new ImageException(spec, "option '" + key + "' given twice");
        }
        if (value.isEmpty()) {
            throw new ImageException(spec, "option '" + key + "' is empty");
        }
        return value;
    }

    /** Splits on unescaped {@code separator}, keeping escapes in the pieces (unescaped last). */
    private static List<String> split(String spec, String s, char separator) throws ImageException {
        List<String> pieces = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\') {
                if (++i == s.length()) {
                    throw new ImageException(spec, "ends with a lone '\\'");
                }
            } else if (c == separator) {
                pieces.add(s.substring(start, i));
                start = i + 1;
            }
        }
        pieces.add(s.substring(start));
        return pieces;
    }

    private static int indexOfUnescaped(String s, char wanted) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\') {
                i++;
            } else if (c == wanted) {
                return i;
            }
        }
        return -1;
    }

    private static String unescape(String spec, String s) throws ImageException {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\') {
                if (++i == s.length()) {
                    throw new ImageException(spec, "ends with a lone '\\'");
                }
                c = s.charAt(i);
            }
            b.append(c);
        }
        return b.toString();
    }
}
