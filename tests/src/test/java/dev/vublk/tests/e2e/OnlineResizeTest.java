package dev.vublk.tests.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.tests.backend.BackendKind;
import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.backend.InProcessBackend;
import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.BlkConfigView;
import dev.vublk.tests.frontend.BlkQueueDriver;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import dev.vublk.tests.vm.QemuImg;
import dev.vublk.vhost.blk.BlkDisk;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Online resize through the whole device: while one queue keeps writing and reading back, the
 * disk grows and then shrinks; each time the front-end gets CONFIG_CHANGE_MSG on its backend
 * channel, rereads the config space and sees the new capacity; data written before and after
 * reads back; requests past a shrunk end fail; a later connection sees the size; qemu-img finds
 * the image consistent with the final virtual size and the data in place.
 */
class OnlineResizeTest {
    private static final long MiB = 1 << 20;
    private static final long START = 32 * MiB, GROWN = 64 * MiB, SHRUNK = 48 * MiB;
    private static final long BEFORE = 20 * MiB, AFTER = 40 * MiB;
    private static final int BYTES = 64 << 10;

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"raw", "qcow2", "vhdx"})
    void growAndShrinkWhileAQueueRuns(String format) throws Exception {
        Path image = dir.resolve("disk." + format);
        QemuImg.create(format, image, START);
        byte[] before = Patterns.bytes(1, BYTES), after = Patterns.bytes(2, BYTES);
        try (BackendFixture f = new BackendFixture(BackendKind.OURS_IN_PROCESS, dir)) {
            f.start(new BackendSpec(image, format, 2, false, "resize", 512, true));
            BlkDisk disk = ((InProcessBackend) f.backend).disk();
            VhostUserBlkFrontend fe = f.open(FrontendOptions.qemu(2));
            assertEquals(START / 512, fe.configView().capacity());
            BlkQueueDriver q = fe.queue(0);
            assertTrue(q.write(BEFORE / 512, before).ok());

            try (Traffic traffic = new Traffic(fe.queue(1))) {
                traffic.awaitMore(20);
                assertEquals(GROWN / 512, resize(disk, fe, GROWN).capacity());
                traffic.awaitMore(20);
                assertTrue(q.write(AFTER / 512, after).ok(), "a write past the old end");
                assertArrayEquals(after, q.read(AFTER / 512, BYTES).data());
                assertArrayEquals(before, q.read(BEFORE / 512, BYTES).data());

                assertEquals(SHRUNK / 512, resize(disk, fe, SHRUNK).capacity());
                traffic.awaitMore(20);
                assertEquals(BlkCommand.S_IOERR, q.read(SHRUNK / 512, 4096).status(), "a read past the new end");
                assertEquals(BlkCommand.S_IOERR, q.write(SHRUNK / 512 - 4, new byte[4096]).status(), "a write across it");
                assertArrayEquals(after, q.read(AFTER / 512, BYTES).data());
            }
            assertEquals(2, fe.configChanges());
            fe.stop();
            fe.reconnect();
            assertEquals(SHRUNK / 512, fe.configView().capacity(), "a later connection sees the new size");
            assertArrayEquals(before, fe.queue(0).read(BEFORE / 512, BYTES).data());
        }
        if (!format.equals("raw")) {
            QemuImg.assertCheckClean(format, image);
        }
        assertEquals(SHRUNK, QemuImg.virtualSize(format, image));
        Path raw = QemuImg.toRaw(format, image, dir.resolve("as-raw.img"));
        assertArrayEquals(before, bytesAt(raw, BEFORE));
        assertArrayEquals(after, bytesAt(raw, AFTER));
    }

    /** Resizes from another thread, as the control socket would, while this one plays QEMU's side. */
    private static BlkConfigView resize(BlkDisk disk, VhostUserBlkFrontend fe, long size) throws Exception {
        CompletableFuture<Void> done = CompletableFuture.runAsync(() -> {
            try {
                disk.resize(size);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        BlkConfigView seen = fe.awaitConfigChange();
        done.get(60, TimeUnit.SECONDS);
        return seen;
    }

    private static byte[] bytesAt(Path file, long offset) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            byte[] b = new byte[BYTES];
            f.seek(offset);
            f.readFully(b);
            return b;
        }
    }

    /**
     * Writes and reads back 4 KiB blocks in the first MiB on its own queue until closed: every
     * request must succeed and every read return what was written, across the resizes.
     */
    private static final class Traffic implements AutoCloseable {
        private final AtomicInteger rounds = new AtomicInteger();
        private final AtomicReference<String> failure = new AtomicReference<>();
        private volatile boolean stop;
        private final Thread thread;

        Traffic(BlkQueueDriver q) {
            thread = new Thread(() -> run(q), "traffic");
            thread.start();
        }

        private void run(BlkQueueDriver q) {
            try {
                for (int i = 0; !stop; i++) {
                    long sector = (i % 256) * 8L;
                    byte[] data = Patterns.bytes(1000 + i, 4096);
                    int w = q.write(sector, data).status();
                    var r = q.read(sector, 4096);
                    if (w != BlkCommand.S_OK || r.status() != BlkCommand.S_OK || !java.util.Arrays.equals(data, r.data())) {
                        failure.set("round " + i + ": write status " + w + ", read status " + r.status());
                        return;
                    }
                    rounds.incrementAndGet();
                }
            } catch (RuntimeException e) {
                failure.set(e.toString());
            }
        }

        /** Waits for {@code n} more rounds, so the traffic is known to run on both sides of a resize. */
        void awaitMore(int n) throws InterruptedException {
            int target = rounds.get() + n;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (rounds.get() < target && failure.get() == null) {
                assertTrue(System.nanoTime() < deadline && thread.isAlive(), "the traffic stalled at round " + rounds.get());
                Thread.sleep(2);
            }
            assertEquals(null, failure.get());
        }

        @Override
        public void close() throws InterruptedException {
            stop = true;
            thread.join(60_000);
            assertEquals(null, failure.get());
        }
    }
}
