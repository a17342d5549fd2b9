package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.MappedRegion;
import dev.vublk.uring.NativeFile;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A queue whose worker fails in the middle of an allocating write (guest memory truncated under
 * it, which the JVM reports as an InternalError) must not leave the cluster pending forever: once
 * its ring drained and it closed, another queue writing the same cluster goes on.
 */
class QcowWorkerFailureTest {
    @TempDir
    Path dir;

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a hang guard, not a timing
    void aClosedWorkerAbortsTheAllocationItLeftPending() throws Exception {
        // Over a backing file, the rest of a partially written cluster must be copied, which takes
        // the copy-on-write path (a cluster reading as zeros would get the guest bytes alone).
        Path base = dir.resolve("base.raw");
        QemuTools.img("create", "-q", "-f", "raw", base.toString(), Integer.toString(1 << 20));
        Path img = dir.resolve("a.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=65536,backing_file=" + base + ",backing_fmt=raw", 1 << 20);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             NativeFile guest = NativeFile.create(dir.resolve("guest-ram"));
             WorkerDriver other = new WorkerDriver(image)) {
            guest.truncate(65536);
            try (MappedRegion ram = MappedRegion.map(guest.fd(), 0, 65536, true)) {
                IoVecArray buffers = new IoVecArray(1);
                buffers.add(ram.address(), 4096);
                guest.truncate(0); // the front-end shrinks the guest memory file: touching it faults
                WorkerDriver failing = new WorkerDriver(image);
                // A partial-cluster write: the copy-on-write path copies the guest data into a bounce cluster.
                assertThrows(InternalError.class, () -> {
                    failing.worker().write(4096, buffers, (t, r) -> {}, 0);
                    failing.ring().drain();
                });
                failing.close();
            }
            byte[] data = new byte[4096];
            Arrays.fill(data, (byte) 7);
            assertEquals(4096, other.write(8192, data), "the same cluster is writable from another queue");
            assertArrayEquals(data, other.read(8192, 4096));
            assertArrayEquals(new byte[4096], other.read(4096, 4096), "the failed write left nothing");
        }
    }
}
