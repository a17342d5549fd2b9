package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.block.ImageOptions;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.block.WriteBackStep;
import dev.vublk.block.storage.FileStorage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A block allocation whose log writes fail (a full disk: the log and BAT regions of a sparse
 * file need space too) leaves the image taking changes. Its file space is handed out again
 * only when none of its stages became durable; after that a replayable entry may point at it.
 */
class FailedAllocationTest {
    private static final int BLOCK = 1 << 20;

    @TempDir
    Path dir;

    @Test
    void anAllocationFailingBeforeItsEntryIsDurableGivesItsSpaceBack() throws Exception {
        Path img = dir.resolve("early.vhdx");
        long end = failOneAllocationThenWrite(img, 0);
        assertEquals(end + BLOCK, Files.size(img), "the block got the failed allocation's space");
    }

    @Test
    void anAllocationFailingAfterItsEntryIsDurableKeepsItsSpaceReserved() throws Exception {
        Path img = dir.resolve("late.vhdx");
        long end = failOneAllocationThenWrite(img, 1);
        assertEquals(end + 2L * BLOCK, Files.size(img), "the failed allocation's space is never handed to a block");
    }

    /**
     * Starts an allocation of block 3, writes {@code durableStages} of its stages, then reports
     * it failed; then writes block 3 for real. Returns the file size before it all.
     */
    private long failOneAllocationThenWrite(Path img, int durableStages) throws Exception {
        VhdxCreator.create(img).size(8L * BLOCK).blockSize(BLOCK).write();
        byte[] data = new byte[4096];
        Arrays.fill(data, (byte) 0x3c);
        long end;
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); WorkerDriver d = new WorkerDriver(image)) {
            VhdxMetadata meta = image.metadata();
            meta.beginWrites(() -> {});
            end = Files.size(img);
            WriteBackStep step = new WriteBackStep();
            meta.beginAllocation(3, step);
            assertEquals(WriteBackStep.RUN, step.kind);
            BlockAllocation a = (BlockAllocation) step.writes;
            for (int s = 0; s < durableStages; s++) { // what the engine does on its ring
                FileStorage storage = (FileStorage) a.storage(s);
                for (int w = 0; w < a.writes(s); w++) {
                    storage.file().write(a.data(s, w), a.offset(s, w));
                }
                storage.file().fdatasync();
                a.stageDurable(s);
            }
            for (Runnable w : meta.finishAllocation(a, false)) {
                w.run();
            }
            assertEquals(4096, d.write(3L * BLOCK + 8192, data), "the image takes changes after the failure");
            assertArrayEquals(data, d.read(3L * BLOCK + 8192, 4096));
        }
        QemuTools.assertCheckClean(img, "vhdx", false);
        Path raw = dir.resolve("as-raw");
        QemuTools.toRaw(img, raw);
        byte[] all = Files.readAllBytes(raw);
        assertArrayEquals(data, Arrays.copyOfRange(all, 3 * BLOCK + 8192, 3 * BLOCK + 8192 + 4096));
        return end;
    }
}
