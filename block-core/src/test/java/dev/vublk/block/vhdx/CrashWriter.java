package dev.vublk.block.vhdx;

import dev.vublk.block.ImageHolders;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.WorkerDriver;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;

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

    /**
     * Runs a writer child on {@code img} from slot {@code start}, SIGKILLs it after
     * {@code killAfterMs}, and returns the index of the last write it had flushed (-1: none).
     */
    static int killDuring(Path img, Path state, int slots, int start, long killAfterMs) throws Exception {
        String jvm = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(jvm, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                CrashWriter.class.getName(), img.toString(), state.toString(), "" + slots, "" + start)
                .redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream()));
        String line = out.readLine();
        if (!"ready".equals(line)) {
            throw new AssertionError("child did not start: " + line);
        }
        Thread.sleep(killAfterMs);
        p.destroyForcibly(); // SIGKILL
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            throw new AssertionError("killed child did not exit");
        }
        ImageHolders.awaitUnlocked(img); // the I/O it left in flight is done
        List<String> lines = Files.exists(state) ? Files.readAllLines(state) : List.of();
        return lines.isEmpty() ? -1 : Integer.parseInt(lines.getLast().strip());
    }

    /** The slot the {@code i}-th write of a run from {@code start} goes to: scattered, every slot once. */
    static int slotOf(int start, int i, int slots) {
        return (start + i * 37) % slots;
    }

    public static void main(String[] args) throws Exception {
        Path img = Path.of(args[0]);
        Path state = Path.of(args[1]);
        int slots = Integer.parseInt(args[2]);
        int start = Integer.parseInt(args[3]);
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults());
             WorkerDriver h = new WorkerDriver(image);
             FileChannel out = FileChannel.open(state, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            System.out.println("ready");
            System.out.flush();
            for (int i = 0; i < slots; i++) {
                int slot = slotOf(start, i, slots);
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
