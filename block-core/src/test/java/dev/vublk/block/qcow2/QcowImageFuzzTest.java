package dev.vublk.block.qcow2;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vublk.block.ImageException;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.WorkerDriver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Opens a fuzzed qcow2 image and runs a few requests through the real per-queue worker on an
 * io_uring, read-write or read-only.
 *
 * <p>Input layout: the image file's bytes, followed by a short trailer that the
 * {@link FuzzedDataProvider} consumes from the end (read-only flag, then up to {@link #MAX_OPS}
 * requests: kind, offset, length). The seeds are small qemu-img-made images (512-byte or 4 KiB
 * clusters, tens of KiB of virtual size: plain, version 2, compressed deflate and zstd, extended
 * L2, a lazy-refcounts image left dirty, snapshots, 1- and 64-bit refcounts, a raw backing file)
 * each with a 64-byte trailer appended.
 *
 * <p>Contract checked: open succeeds or throws an {@link IOException} with a message, never one
 * wrapping a RuntimeException (that is a missing check turned into a refusal); every request
 * completes with a byte count or 0, or a negative errno (the driver fails on a hang); nothing else escapes;
 * one input allocates at most {@link #MAX_ALLOCATED_BYTES} on this thread; no descriptor stays
 * open. Images naming a backing file other than the one the target provides, or an external data
 * file, are skipped: which host files an image may reach is checked elsewhere.
 */
class QcowImageFuzzTest {
    private static final int MAX_OPS = 6;
    /** Far above what a seed-sized image needs (a few hundred KiB), far below a runaway table. */
    private static final long MAX_ALLOCATED_BYTES = 64L << 20;
    static final String BACKING_NAME = "backing.raw";
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    @FuzzTest
    void openAndServe(FuzzedDataProvider data) throws IOException {
        boolean readOnly = data.consumeBoolean();
        int ops = data.consumeInt(0, MAX_OPS);
        long[] op = new long[ops * 3];
        for (int i = 0; i < ops; i++) {
            op[3 * i] = data.consumeInt(0, 4);
            op[3 * i + 1] = data.consumeLong(0, 1L << 20);
            op[3 * i + 2] = data.consumeInt(1, 16) * 512L;
        }
        byte[] image = data.consumeRemainingAsBytes();
        if (namesOtherFiles(image)) {
            return;
        }
        long fdsBefore = openDescriptors();
        long allocated = allocatedBy(image, readOnly, op);
        if (allocated > MAX_ALLOCATED_BYTES) {
            // The first run of a path also loads (and, when fuzzing, instruments) classes on this
            // thread: only a second run over the limit is the input's own doing.
            allocated = allocatedBy(image, readOnly, op);
            if (allocated > MAX_ALLOCATED_BYTES) {
                throw new AssertionError("one input allocated " + allocated + " bytes (limit " + MAX_ALLOCATED_BYTES + ")");
            }
        }
        long fdsAfter = openDescriptors();
        if (fdsAfter != fdsBefore) {
            throw new AssertionError("descriptors open before: " + fdsBefore + ", after: " + fdsAfter);
        }
    }

    /** Runs the input in a fresh temporary directory; returns the bytes this thread allocated. */
    private static long allocatedBy(byte[] image, boolean readOnly, long[] op) throws IOException {
        long before = THREADS.getCurrentThreadAllocatedBytes();
        Path dir = Files.createTempDirectory("qcowfuzz");
        try {
            Path img = dir.resolve("f.qcow2");
            Files.write(img, image);
            Files.write(dir.resolve(BACKING_NAME), new byte[64 << 10]);
            serve(img, readOnly, op);
        } finally {
            deleteTree(dir);
        }
        return THREADS.getCurrentThreadAllocatedBytes() - before;
    }

    private static void serve(Path img, boolean readOnly, long[] op) throws IOException {
        QcowImage image;
        try {
            image = QcowImage.open(img, ImageOptions.defaults().withReadOnly(readOnly));
        } catch (ImageException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw new AssertionError("open refused the image through an unchecked exception", r);
            }
            if (e.getMessage() == null || e.getMessage().contains("null")) {
                throw new AssertionError("refusal without a clear message: " + e.getMessage(), e);
            }
            return;
        }
        try (image; WorkerDriver driver = new WorkerDriver(image); Arena arena = Arena.ofConfined()) {
            long size = image.size();
            for (int i = 0; i < op.length; i += 3) {
                if (size < 512) {
                    break;
                }
                long offset = Math.min(op[i + 1], size - 512) & ~511L;
                long length = Math.min(op[i + 2], size - offset);
                int res = run(driver, arena, (int) op[i], offset, length);
                if (res > length || res < -4095) {
                    throw new AssertionError("request " + op[i] + " of " + length + " bytes completed with " + res);
                }
            }
        } catch (IOException e) {
            if (e.getMessage() == null) {
                throw new AssertionError("IOException without a message", e);
            }
        }
    }

    private static int run(WorkerDriver driver, Arena arena, int kind, long offset, long length) throws IOException {
        return switch (kind) {
            case 0 -> driver.tryReadInto(offset, arena.allocate(length, 8));
            case 1 -> {
                byte[] bytes = new byte[(int) length];
                java.util.Arrays.fill(bytes, (byte) (offset >>> 9));
                yield driver.tryWrite(offset, bytes);
            }
            case 2 -> driver.tryDiscard(offset, length);
            case 3 -> driver.tryWriteZeroes(offset, length, (offset & 512) == 0);
            default -> driver.tryFlush();
        };
    }

    /** Whether the header names a backing file other than the target's, or an external data file. */
    private static boolean namesOtherFiles(byte[] image) {
        try {
            QcowHeader h = QcowHeader.parse(java.util.Arrays.copyOf(image, Math.min(image.length, 1 << 21)), image.length);
            return h.hasDataFile() || (h.backingFile() != null && !h.backingFile().equals(BACKING_NAME));
        } catch (QcowFormatException | RuntimeException e) {
            // Unparsable headers are for open to refuse; the backing name is only read past the checks.
            return false;
        }
    }

    private static long openDescriptors() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.delete(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
