package dev.vublk.block.vhdx;

import dev.vublk.block.ImageOptions;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Child process of {@link CrashTest}: allocating writes of 64 KiB slots, a flush every 8, and
 * after each completed flush the last flushed slot recorded (durably) in the state file.
 */
public final class CrashWriter {
    static final int SLOT = 64 << 10;

    static byte[] pattern(int slot) {
        byte[] b = new byte[SLOT];
        java.util.Arrays.fill(b, (byte) (slot * 7 + 1));
        for (int s = 0; s < SLOT; s += 4096) {
            ByteBuffer.wrap(b).putInt(s, slot + 1);
        }
        return b;
    }

    public static void main(String[] args) throws Exception {
        Path img = Path.of(args[0]);
        Path state = Path.of(args[1]);
        int slots = Integer.parseInt(args[2]);
        int start = Integer.parseInt(args[3]);
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults());
             RingHarness h = new RingHarness(image);
             FileChannel out = FileChannel.open(state, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            System.out.println("ready");
            System.out.flush();
            for (int i = 0; i < slots; i++) {
                int slot = (start + i * 37) % slots; // scattered, every slot once
                h.write((long) slot * SLOT, pattern(slot));
                if (i % 8 == 7) {
                    h.flush();
                    out.write(ByteBuffer.wrap((i + "\n").getBytes(StandardCharsets.US_ASCII)));
                    out.force(true);
                }
            }
            System.out.println("done");
            Thread.sleep(60_000);
        }
    }
}
