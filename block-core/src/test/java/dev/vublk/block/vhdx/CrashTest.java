package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageOptions;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
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
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        int runs = 0;
        int checkedSlots = 0;
        while (runs < 3 || System.nanoTime() < deadline) {
            Path img = dir.resolve("crash" + runs + ".vhdx");
            Path state = dir.resolve("state" + runs);
            VhdxCreator.create(img).size((long) SLOTS * CrashWriter.SLOT).blockSize(1 << 20).write();
            int start = rnd.nextInt(SLOTS);
            int flushedOps = CrashWriter.killDuring(img, state, SLOTS, start, 50 + rnd.nextInt(900));
            try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
                for (int i = 0; i < SLOTS; i++) {
                    int slot = CrashWriter.slotOf(start, i, SLOTS);
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
            QemuTools.runOk("qemu-img", "check", "-f", "vhdx", img.toString());
            Files.delete(img);
            runs++;
        }
        assertTrue(runs >= 3);
        assertTrue(checkedSlots > 0, "no run got as far as a flush; the kill points are too early to test anything");
    }
}
