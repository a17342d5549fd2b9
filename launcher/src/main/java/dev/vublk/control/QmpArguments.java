package dev.vublk.control;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A command's arguments read the way QEMU checks them: each by name and JSON type, with QEMU's
 * messages ("Parameter 'size' is missing"), and {@link #noOthers()} refusing any name the command
 * did not ask for, so a misspelt optional argument is an error instead of silently ignored.
 */
public final class QmpArguments {
    private final Map<String, Object> map;
    private final Set<String> asked = new HashSet<>();

    public QmpArguments(Map<String, Object> map) {
        this.map = map;
    }

    /** All arguments as given. */
    Map<String, Object> map() {
        return map;
    }

    public long requiredLong(String name) throws QmpException {
        Long v = optionalLong(name);
        if (v == null) {
            throw missing(name);
        }
        return v;
    }

    /** The integer, or null when absent. */
    public Long optionalLong(String name) throws QmpException {
        return typed(name, Long.class, "integer");
    }

    public long optionalLong(String name, long absent) throws QmpException {
        Long v = optionalLong(name);
        return v != null ? v : absent;
    }

    /** The string, or null when absent. */
    public String optionalString(String name) throws QmpException {
        return typed(name, String.class, "string");
    }

    /** The array, or null when absent. */
    public List<?> optionalList(String name) throws QmpException {
        return typed(name, List.class, "array");
    }

    private <T> T typed(String name, Class<T> type, String jsonType) throws QmpException {
        asked.add(name);
        if (!map.containsKey(name)) {
            return null;
        }
        Object v = map.get(name);
        if (!type.isInstance(v)) { // an explicit null too, as in QEMU
            throw new QmpException("Invalid parameter type for '" + name + "', expected: " + jsonType);
        }
        return type.cast(v);
    }

    /** Fails naming the first argument no getter asked for. */
    public void noOthers() throws QmpException {
        for (String name : map.keySet()) {
            if (!asked.contains(name)) {
                throw new QmpException("Parameter '" + name + "' is unexpected");
            }
        }
    }

    private static QmpException missing(String name) {
        return new QmpException("Parameter '" + name + "' is missing");
    }
}
