package dev.vublk.tests.e2e;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * What every 4 KiB block of the soak's disk must hold, as one int per block: 0 for zeros, a
 * generation {@code g > 0} for the pattern of that block and generation, {@code -g} for "zeros or
 * generation g" (a discard: virtio lets it leave the old data, and our QCOW2 and VHDX promise
 * nothing else, see {@code ClusterWrites.zero} and {@code ClearPolicy}), and {@link #UNKNOWN}
 * after a write or write-zeroes that failed. Each queue of the soak changes only its own blocks;
 * the final check runs after every queue thread was joined.
 *
 * <p>Patterns are computed word by word from the block number and generation straight into (and
 * compared straight out of) guest RAM: no array per request, so the driver stays cheap.
 */
final class SoakModel {
    static final int BLOCK = 4096;
    static final int UNKNOWN = Integer.MIN_VALUE;
    private static final int WORDS = BLOCK / Long.BYTES;
    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED;

    private final int[] state;

    SoakModel(int blocks) {
        this.state = new int[blocks];
    }

    int blocks() {
        return state.length;
    }

    void wrote(int block, int generation) {
        state[block] = generation;
    }

    void zeroed(int block) {
        state[block] = 0;
    }

    /** Zeros stay zeros and an earlier "either" stays the same either; data may now read as zeros. */
    void discarded(int block) {
        if (state[block] > 0) {
            state[block] = -state[block];
        }
    }

    void lost(int block) {
        state[block] = UNKNOWN;
    }

    /** Writes the pattern of {@code block} at {@code generation} to {@code to} at byte {@code offset}. */
    static void fill(MemorySegment to, long offset, int block, int generation) {
        for (int w = 0; w < WORDS; w++) {
            to.set(WORD, offset + (long) w * Long.BYTES, word(block, generation, w));
        }
    }

    /**
     * Checks the 4 KiB at {@code offset} of {@code data} against what {@code block} must hold:
     * null when it does, else what is wrong.
     */
    String check(MemorySegment data, long offset, int block) {
        int s = state[block];
        if (s == UNKNOWN) {
            return null;
        }
        if (s == 0) {
            return isZero(data, offset) ? null : "block " + block + " should read as zeros";
        }
        int generation = Math.abs(s);
        if (holds(data, offset, block, generation) || (s < 0 && isZero(data, offset))) {
            return null;
        }
        return "block " + block + " should hold generation " + generation + (s < 0 ? " or zeros (discarded)" : "")
                + ": " + describe(data, offset, block);
    }

    private static boolean holds(MemorySegment data, long offset, int block, int generation) {
        for (int w = 0; w < WORDS; w++) {
            if (data.get(WORD, offset + (long) w * Long.BYTES) != word(block, generation, w)) {
                return false;
            }
        }
        return true;
    }

    private static boolean isZero(MemorySegment data, long offset) {
        for (int w = 0; w < WORDS; w++) {
            if (data.get(WORD, offset + (long) w * Long.BYTES) != 0) {
                return false;
            }
        }
        return true;
    }

    /** What the block holds instead: zeros, or its first word and how much of it is non-zero. */
    private static String describe(MemorySegment data, long offset, int block) {
        if (isZero(data, offset)) {
            return "it reads as zeros";
        }
        int words = 0;
        for (int w = 0; w < WORDS; w++) {
            words += data.get(WORD, offset + (long) w * Long.BYTES) == 0 ? 0 : 1;
        }
        return String.format("it holds something else (first word 0x%016x, %d of %d words non-zero)", data.get(WORD, offset), words, WORDS);
    }

    /** Word {@code w} of a block's pattern: splitmix64 over block, generation and word index. */
    static long word(int block, int generation, int w) {
        long z = (((long) block << 32) | (generation & 0xffffffffL)) * 0x9E3779B97F4A7C15L + w * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
