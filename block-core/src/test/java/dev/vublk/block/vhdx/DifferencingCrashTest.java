package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * SIGKILLs a writer of a differencing disk during allocating writes (new partially present
 * blocks, sector bitmap blocks and bitmap updates through the log), then reopens: every write
 * flushed before the kill reads back exactly, and every other sector holds the parent's data or
 * the write's, never zeros or anything else, so the bitmap never wrongly shows or hides sectors.
 * qemu-img cannot open differencing VHDX files, so the content is the whole check here. The round
 * count comes from {@link CrashLoop} (scripts/crash-loops runs 100).
 */
class DifferencingCrashTest {
    static final int SLOTS = 512;
    static final long SIZE = (long) SLOTS * CrashWriter.SLOT;
    static final int SECTOR = 512;

    @TempDir
    Path dir;

    @Test
    void killedChildWritersLeaveExactFlushedDataOverTheParent() throws Exception {
        Path base = dir.resolve("base.vhdx");
        VhdxCreator.create(base).size(SIZE).blockSize(1 << 20).write();
        byte[] parent = TestImages.random(77, (int) SIZE);
        try (VhdxImage image = VhdxImage.open(base, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            h.write(0, parent);
        }
        byte[] baseBefore = Files.readAllBytes(base);
        Random rnd = new Random(4242);
        CrashLoop loop = CrashLoop.start("DifferencingCrashTest", "vhdx", 5);
        int checkedSlots = 0;
        for (int run = 0; run < loop.rounds(); run++) {
            Path child = dir.resolve("child" + run + ".vhdx");
            Path state = dir.resolve("state" + run);
            VhdxCreator.create(child).parent(base).blockSize(1 << 20).write();
            int start = rnd.nextInt(SLOTS);
            int flushedOps = CrashWriter.killDuring(child, state, SLOTS, start, 100 + rnd.nextInt(900));
            loop.roundDone();
            try (VhdxImage image = VhdxImage.open(child, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
                for (int i = 0; i < SLOTS; i++) {
                    int slot = CrashWriter.slotOf(start, i, SLOTS);
                    long at = (long) slot * CrashWriter.SLOT;
                    byte[] got = h.read(at, CrashWriter.SLOT);
                    byte[] want = CrashWriter.pattern(slot);
                    if (i <= flushedOps) {
                        if (!Arrays.equals(want, got)) {
                            loop.lostFlushedWrite(run, "slot " + slot + " (write " + i + ", flushed up to " + flushedOps + ")");
                        }
                        checkedSlots++;
                        continue;
                    }
                    for (int s = 0; s < got.length; s += SECTOR) {
                        boolean isParent = Arrays.equals(got, s, s + SECTOR, parent, (int) at + s, (int) at + s + SECTOR);
                        boolean isNew = Arrays.equals(got, s, s + SECTOR, want, s, s + SECTOR);
                        if (!isParent && !isNew) {
                            loop.corruption(run, "unflushed slot " + slot + " sector " + s / SECTOR
                                    + " holds neither the parent's data nor the write's");
                            break;
                        }
                    }
                }
                // Everything the child did is reachable again after the replay: a new write session works.
                h.write(0, CrashWriter.pattern(1000));
                assertArrayEquals(CrashWriter.pattern(1000), h.read(0, CrashWriter.SLOT));
            }
            Files.delete(child);
        }
        loop.finish();
        assertTrue(checkedSlots > 0, "no run got as far as a flush; the kill points are too early to test anything");
        assertEquals(Arrays.hashCode(baseBefore), Arrays.hashCode(Files.readAllBytes(base)), "the parent was modified");
    }
}
