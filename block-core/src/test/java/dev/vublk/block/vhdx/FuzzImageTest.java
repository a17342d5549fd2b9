package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageException;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.WorkerDriver;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fuzz input form round-trips, and the seeds open and serve requests: the campaign starts
 * deep in the format, not at a refusal.
 */
class FuzzImageTest {
    static final String SEEDS = "VhdxImageFuzzTestInputs/openReplayAndServe/";

    @TempDir
    Path dir;

    private byte[] seed(String name) throws Exception {
        try (InputStream in = FuzzImageTest.class.getResourceAsStream(SEEDS + name)) {
            return in.readAllBytes();
        }
    }

    @Test
    void compactThenExpandGivesTheSameFile() throws Exception {
        Path img = dir.resolve("a.vhdx");
        VhdxCreator.create(img).size(8L << 20).blockSize(1 << 20).write();
        byte[] requests = {1, 2, 3};
        byte[] compact = FuzzImage.compact(img, FuzzImage.RESEAL, requests);
        assertTrue(compact.length < 64 * 1024, "zero pages are left out: " + compact.length);
        Path back = dir.resolve("b.vhdx");
        FuzzImage.Expanded e = FuzzImage.expand(compact, back);
        assertEquals(FuzzImage.RESEAL, e.flags());
        assertArrayEquals(requests, Arrays.copyOfRange(compact, e.requestsAt(), compact.length));
        byte[] original = Files.readAllBytes(img);
        byte[] expanded = Files.readAllBytes(back);
        assertEquals(Layout.roundUp(original.length, 64 * Layout.KIB), expanded.length);
        assertArrayEquals(original, Arrays.copyOf(expanded, original.length));
    }

    @Test
    void seedsOpenAndServe() throws Exception {
        for (String name : new String[] {"creator-dynamic", "creator-fixed", "creator-4k-sectors", "qemu-dynamic", "qemu-fixed"}) {
            Path img = dir.resolve(name + ".vhdx");
            FuzzImage.expand(seed(name), img);
            try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
                assertEquals(name.contains("fixed") ? 4L << 20 : 8L << 20, image.size(), name);
                h.write(4096, new byte[8192]);
                h.flush();
            }
        }
    }

    @Test
    void pendingLogSeedIsReplayed() throws Exception {
        Path img = dir.resolve("log.vhdx");
        FuzzImage.expand(seed("creator-pending-log"), img);
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            byte[] page = new byte[4096];
            Arrays.fill(page, (byte) 0x77);
            assertArrayEquals(page, h.read(5L << 20, 4096), "the logged BAT entry points block 5 at the new data");
        }
    }

    @Test
    void differencingSeedIsRefusedForItsMissingParent() throws Exception {
        Path img = dir.resolve("child.vhdx");
        FuzzImage.expand(seed("creator-differencing-parent-missing"), img);
        ImageException e = assertThrows(ImageException.class, () -> VhdxImage.open(img, ImageOptions.defaults()).close());
        assertTrue(e.getMessage().contains("parent"), e.getMessage());
    }
}
