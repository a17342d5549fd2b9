package dev.vublk.block.vhdx;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vublk.block.ImageException;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.WorkerDriver;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;

/**
 * Opens a fuzzed VHDX file (see {@link FuzzImage} for the input's layout): headers, region
 * tables, metadata, BAT and log all come from the input, and a pending log is replayed. If the
 * open succeeds, up to {@link #MAX_REQUESTS} requests run through a real per-queue worker on an
 * io_uring. Seeds are images made by the creator and by qemu-img; {@link VhdxFuzzSeeds} remakes them.
 *
 * <p>Contract: the open succeeds or throws an {@link ImageException} whose message names the
 * file; replay grows the file by at most {@link LogReplay#MAX_REPLAY_GROWTH}; every request
 * completes with a result; nothing else escapes; no descriptor of the image or of a ring outlives
 * the input (the file is deleted, so a leaked one shows as "fuzz.vhdx (deleted)").
 */
class VhdxImageFuzzTest {
    static final int MAX_REQUESTS = 8;
    /** Each request: kind, offset in 4 KiB units (u32), length in 4 KiB units (u8), fill byte, two spare. */
    static final int REQUEST = 8;
    private static final int UNIT = 4096, MAX_UNITS = 16;
    private static Path dir;

    @FuzzTest
    void openReplayAndServe(byte[] input) throws IOException {
        Path img = workDir().resolve("fuzz.vhdx");
        long rings = ownFds(img);
        try {
            FuzzImage.Expanded e = FuzzImage.expand(input, img);
            long before = Files.size(img);
            boolean readOnly = (e.flags() & FuzzImage.READ_ONLY_REPLAY) != 0;
            VhdxImage image;
            try {
                image = VhdxImage.open(img, ImageOptions.defaults().withReadOnly(readOnly), readOnly);
            } catch (ImageException refused) {
                checkMessage(refused, img);
                return;
            } finally {
                checkGrowth(before, Files.size(img));
            }
            try (image) {
                serve(image, Arrays.copyOfRange(input, e.requestsAt(), input.length));
            }
        } finally {
            Files.deleteIfExists(img);
        }
        if (ownFds(img) != rings) {
            throw new AssertionError("descriptors of the image or its rings left open: " + (ownFds(img) - rings));
        }
    }

    /**
     * Open descriptors that only this target makes: the image file's and io_uring instances'.
     * Counting just these keeps the check exact while the JVM and Jazzer open files of their own.
     */
    private static long ownFds(Path img) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.map(VhdxImageFuzzTest::target).filter(t -> t.startsWith(img.toString()) || t.equals("anon_inode:[io_uring]"))
                    .count();
        }
    }

    private static String target(Path fd) {
        try {
            return Files.readSymbolicLink(fd).toString();
        } catch (IOException gone) {
            return ""; // closed while listing (the listing's own descriptor)
        }
    }

    private static void serve(VhdxImage image, byte[] requests) throws IOException {
        long units = image.size() / UNIT;
        if (units == 0) {
            return;
        }
        ByteBuffer b = ByteBuffer.wrap(requests).order(ByteOrder.LITTLE_ENDIAN);
        try (WorkerDriver d = new WorkerDriver(image); Arena arena = Arena.ofConfined()) {
            for (int n = 0; n < MAX_REQUESTS && b.remaining() >= REQUEST; n++) {
                int kind = b.get() & 0xff;
                long at = Integer.toUnsignedLong(b.getInt()) % units;
                int count = (int) Math.min(units - at, 1 + (b.get() & 0xff) % MAX_UNITS);
                byte fill = b.get();
                b.get();
                long offset = at * UNIT;
                int length = count * UNIT;
                switch (kind % 5) {
                    case 0 -> d.tryReadInto(offset, arena.allocate(length, UNIT));
                    case 1 -> {
                        byte[] data = new byte[length];
                        Arrays.fill(data, fill);
                        d.tryWrite(offset, data);
                    }
                    case 2 -> d.tryDiscard(offset, length);
                    case 3 -> d.tryWriteZeroes(offset, length, (fill & 1) != 0);
                    default -> d.tryFlush();
                }
            }
        }
    }

    private static void checkMessage(ImageException refused, Path img) {
        String m = refused.getMessage();
        if (m == null || !m.startsWith(img.toString()) || m.contains("null")) {
            throw new AssertionError("refusal without a clear message: " + m, refused);
        }
    }

    private static void checkGrowth(long before, long after) {
        if (after > before + LogReplay.MAX_REPLAY_GROWTH) {
            throw new AssertionError("opening grew the file from " + before + " to " + after + " bytes");
        }
    }

    private static Path workDir() throws IOException {
        if (dir == null) {
            dir = Files.createTempDirectory("vhdx-fuzz");
        }
        return dir;
    }

    @AfterAll
    static void removeWorkDir() throws IOException {
        if (dir != null) {
            Files.deleteIfExists(dir);
            dir = null;
        }
    }
}
