package dev.vublk.tests.e2e;

import java.util.Random;

/** Deterministic test data: every block's bytes depend on a seed, so misplaced data is detected. */
final class Patterns {
    private Patterns() {}

    static byte[] bytes(long seed, int length) {
        byte[] b = new byte[length];
        new Random(seed * 0x9E3779B97F4A7C15L + length).nextBytes(b);
        return b;
    }
}
