package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageOptions;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGKILLs a writer process at random points, then reopens (replaying the log) and checks that
 * everything flushed is there, nothing else is garbage, and qemu-img check is clean.
 */
class CrashTest {
    static final int SLOTS = 512; // 32 MiB of 64 KiB slots over 1 MiB blocks: an allocation every 16 slots

    @TempDir
    Path dir;

    @Test
    void killedWritersLeaveConsistentImages() throws Exception {
        Random rnd = new Random(20240601);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(25);
        int runs = 0;
        int checkedSlots = 0;
        while (runs < 3 || System.nanoTime() < deadline) {
            Path img = dir.resolve("crash" + runs + ".vhdx");
            Path state = dir.resolve("state" + runs);
            VhdxCreator.create(img).size((long) SLOTS * CrashWriter.SLOT).blockSize(1 << 20).write();
            int start = rnd.nextInt(SLOTS);
            String java = ProcessHandle.current().info().command().orElseThrow();
            Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                    CrashWriter.class.getName(), img.toString(), state.toString(), "" + SLOTS, "" + start)
                    .redirectErrorStream(true).start();
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream()));
            String line = out.readLine();
            assertEquals("ready", line, "child did not start");
            Thread.sleep(50 + rnd.nextInt(900));
            p.destroyForcibly(); // SIGKILL
            p.waitFor(10, TimeUnit.SECONDS);

            List<String> lines = Files.exists(state) ? Files.readAllLines(state) : List.of();
            int flushedOps = lines.isEmpty() ? -1 : Integer.parseInt(lines.getLast().strip());
            try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); RingHarness h = new RingHarness(image)) {
                for (int i = 0; i < SLOTS; i++) {
                    int slot = (start + i * 37) % SLOTS;
                    byte[] got = h.read((long) slot * CrashWriter.SLOT, CrashWriter.SLOT);
                    byte[] want = CrashWriter.pattern(slot);
                    if (i <= flushedOps) {
                        assertArrayEquals(want, got, "run " + runs + ": flushed slot " + slot + " (op " + i + ")");
                        checkedSlots++;
                    } else {
                        for (int s = 0; s < got.length; s += 4096) {
                            byte[] g = Arrays.copyOfRange(got, s, s + 4096);
                            assertTrue(Arrays.equals(g, new byte[4096]) || Arrays.equals(g, Arrays.copyOfRange(want, s, s + 4096)),
                                    "run " + runs + ": unflushed slot " + slot + " holds neither zeros nor its data");
                        }
                    }
                }
            }
            QemuTool.ok("qemu-img", "check", "-f", "vhdx", img.toString());
            Files.delete(img);
            runs++;
        }
        assertTrue(runs >= 3);
        assertTrue(checkedSlots > 0, "no run got as far as a flush; the kill points are too early to test anything");
    }
}
