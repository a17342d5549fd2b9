package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Arrays;
import java.util.Random;

/** Small helpers shared by the VHDX tests. */
final class TestImages {
    private TestImages() {}

    static byte[] random(long seed, int length) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Reads the whole image in chunks and compares with the model. */
    static void assertContent(RingHarness h, byte[] model) throws Exception {
        int chunk = 4 << 20;
        for (int off = 0; off < model.length; off += chunk) {
            int len = Math.min(chunk, model.length - off);
            assertArrayEquals(Arrays.copyOfRange(model, off, off + len), h.read(off, len), "content at " + off);
        }
    }
}
