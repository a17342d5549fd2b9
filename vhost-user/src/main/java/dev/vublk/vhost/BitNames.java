package dev.vublk.vhost;

import java.util.StringJoiner;

/** Feature words spelled out by bit name for log lines: what an operator compares with a spec. */
public final class BitNames {
    private BitNames() {}

    /**
     * The set bits of {@code bits} as names, lowest first; {@code names[i]} names bit i, and a
     * bit without a name (beyond the array, or null) is written "bit N".
     */
    public static String of(long bits, String[] names) {
        StringJoiner j = new StringJoiner(" ", "[", "]");
        for (int b = 0; b < 64; b++) {
            if ((bits & (1L << b)) != 0) {
                j.add(b < names.length && names[b] != null ? names[b] : "bit " + b);
            }
        }
        return j.toString();
    }
}
