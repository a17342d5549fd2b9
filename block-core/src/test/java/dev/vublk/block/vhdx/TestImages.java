package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.vublk.block.WorkerDriver;
import java.io.RandomAccessFile;
import java.nio.file.Path;
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

    /** Overwrites bytes of a file in place: how the damaged-image tests plant hostile values. */
    static void poke(Path file, long offset, byte[] data) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(offset);
            f.write(data);
        }
    }

    /** Reads the whole image in chunks and compares with the model. */
    static void assertContent(WorkerDriver h, byte[] model) throws Exception {
        int chunk = 4 << 20;
        for (int off = 0; off < model.length; off += chunk) {
            int len = Math.min(chunk, model.length - off);
            assertArrayEquals(Arrays.copyOfRange(model, off, off + len), h.read(off, len), "content at " + off);
        }
    }
}
