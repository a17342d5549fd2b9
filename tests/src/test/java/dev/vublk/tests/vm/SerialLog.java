package dev.vublk.tests.vm;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The guest's serial console, line by line, and the VUTEST protocol printed on it by
 * scripts/guestkit/init:
 * <pre>
 * === VUTEST BEGIN name ===
 * VUTEST RESULT key=value
 * === VUTEST END name status=PASS|FAIL ===
 * </pre>
 * Lines arrive from the reader thread while the test thread polls, hence the locking.
 */
public final class SerialLog {

    private static final Pattern BEGIN = Pattern.compile("^=== VUTEST BEGIN (\\S+) ===$");
    private static final Pattern END = Pattern.compile("^=== VUTEST END (\\S+) status=(PASS|FAIL) ===$");
    private static final Pattern RESULT = Pattern.compile("^VUTEST RESULT ([A-Za-z0-9_.-]+)=(.*)$");
    /** Bounds memory if a guest floods the console: tests need the protocol lines and a tail. */
    private static final int MAX_LINES = 20_000;

    private final String test;
    private final List<String> lines = new ArrayList<>();
    private final Map<String, String> results = new LinkedHashMap<>();
    private boolean begun;
    private String status;
    private long dropped;

    public SerialLog(String test) {
        this.test = test;
    }

    /**
     * For the console of a guest migrated in during its test: the BEGIN line went to the
     * source's console, so RESULT lines count from the first one on.
     */
    public synchronized void resumeTest() {
        begun = true;
    }

    public synchronized void accept(String raw) {
        String line = raw.replace("\r", "");
        if (lines.size() >= MAX_LINES) {
            lines.removeFirst();
            dropped++;
        }
        lines.add(line);
        Matcher m;
        if ((m = BEGIN.matcher(line)).matches() && m.group(1).equals(test)) {
            begun = true;
        } else if ((m = END.matcher(line)).matches() && m.group(1).equals(test) && begun) {
            status = m.group(2);
        } else if (begun && status == null && (m = RESULT.matcher(line)).matches()) {
            results.put(m.group(1), m.group(2));
        }
        notifyAll();
    }

    /** PASS or FAIL once the END marker of this test was seen. */
    public synchronized Optional<String> status() {
        return Optional.ofNullable(status);
    }

    public synchronized Map<String, String> results() {
        return new LinkedHashMap<>(results);
    }

    public synchronized List<String> lines() {
        return List.copyOf(lines);
    }

    /** The last {@code n} lines, for error messages. */
    public synchronized List<String> tail(int n) {
        return List.copyOf(lines.subList(Math.max(0, lines.size() - n), lines.size()));
    }

    public synchronized String tailText(int n) {
        StringBuilder sb = new StringBuilder();
        if (dropped > 0 && n >= lines.size()) {
            sb.append("[").append(dropped).append(" earlier lines dropped]\n");
        }
        for (String l : tail(n)) {
            sb.append("  | ").append(l).append('\n');
        }
        return sb.toString();
    }
}
