package dev.vublk.tests.vm;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The outcome of one guest test: its verdict, its RESULT lines, the whole console and the
 * time from QEMU's start to the guest's power-off.
 */
public record GuestResult(String test, String status, Map<String, String> results,
                          List<String> serial, Duration elapsed) {

    public GuestResult {
        results = Map.copyOf(results);
        serial = List.copyOf(serial);
    }

    public boolean passed() {
        return "PASS".equals(status);
    }

    /** The value of RESULT {@code key}; a missing key is an error naming the keys present. */
    public String get(String key) {
        String v = results.get(key);
        if (v == null) {
            throw new VmException("guest test " + test + " printed no RESULT " + key
                    + "; it printed " + results.keySet() + "\n" + tail(40));
        }
        return v;
    }

    public long getLong(String key) {
        try {
            return Long.parseLong(get(key).trim());
        } catch (NumberFormatException e) {
            throw new VmException("RESULT " + key + "=" + results.get(key) + " is not a number", e);
        }
    }

    public String tail(int n) {
        StringBuilder sb = new StringBuilder();
        for (String l : serial.subList(Math.max(0, serial.size() - n), serial.size())) {
            sb.append("  | ").append(l).append('\n');
        }
        return sb.toString();
    }
}
