package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.CrashLoop;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.WorkerDriver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGKILLs a writer process at random points, then reopens (replaying the log) and checks that
 * everything flushed is there, nothing else is garbage, and qemu-img check is clean. Each round
 * is a fresh image; the round count comes from {@link CrashLoop} (scripts/crash-loops runs 100).
 */
class CrashTest {
    static final int SLOTS = 512; // 32 MiB of 64 KiB slots over 1 MiB blocks: an allocation every 16 slots

    @TempDir
    Path dir;

    @Test
    void killedWritersLeaveConsistentImages() throws Exception {
        Random rnd = new Random(20240601);
        CrashLoop loop = CrashLoop.start("CrashTest", "vhdx", 7);
        int checkedSlots = 0;
        for (int run = 0; run < loop.rounds(); run++) {
            Path img = dir.resolve("crash" + run + ".vhdx");
            Path state = dir.resolve("state" + run);
            VhdxCreator.create(img).size((long) SLOTS * CrashWriter.SLOT).blockSize(1 << 20).write();
            int start = rnd.nextInt(SLOTS);
            int flushedOps = CrashWriter.killDuring(img, state, SLOTS, start, 50 + rnd.nextInt(900));
            loop.roundDone();
            try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
                for (int i = 0; i < SLOTS; i++) {
                    int slot = CrashWriter.slotOf(start, i, SLOTS);
                    byte[] got = h.read((long) slot * CrashWriter.SLOT, CrashWriter.SLOT);
                    byte[] want = CrashWriter.pattern(slot);
                    if (i <= flushedOps) {
                        if (!Arrays.equals(want, got)) {
                            loop.lostFlushedWrite(run, "slot " + slot + " (write " + i + ", flushed up to " + flushedOps + ")");
                        }
                        checkedSlots++;
                        continue;
                    }
                    for (int s = 0; s < got.length; s += 4096) {
                        if (!Arrays.equals(got, s, s + 4096, new byte[4096], 0, 4096) && !Arrays.equals(got, s, s + 4096, want, s, s + 4096)) {
                            loop.corruption(run, "unflushed slot " + slot + " holds neither zeros nor its data at " + s);
                            break;
                        }
                    }
                }
            }
            // After our replay (the read-write open above) qemu must find the image clean.
            loop.check(run, img);
            Files.delete(img);
        }
        loop.finish();
        assertTrue(checkedSlots > 0, "no run got as far as a flush; the kill points are too early to test anything");
    }
}
