package dev.vublk.tests.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.tests.backend.BackendKind;
import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.backend.CephCluster;
import dev.vublk.tests.backend.InProcessBackend;
import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.BlkCompletion;
import dev.vublk.tests.frontend.BlkQueueDriver;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.GuestBuffer;
import dev.vublk.uring.NativeFile;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The store under the backend goes away and comes back. The NBD server is killed (SIGKILL):
 * requests wait for it within the reconnect delay and fail with IOERR after it, the backend lives
 * on, and once the server is back the disk works again with everything written before intact.
 * The Ceph OSD is stopped (SIGSTOP): requests wait, as librbd's do, and complete once it goes on.
 */
class NetworkStoreFailureTest {
    private static final int DELAY_SECONDS = 2;
    private static final int BLOCK = 4096;

    @TempDir
    Path dir;
    BackendFixture f;
    BlkQueueDriver q;

    @AfterEach
    void tearDown() throws Exception {
        if (f != null) {
            f.close();
        }
    }

    private void start(int reconnectDelaySeconds) throws Exception {
        f = new BackendFixture(BackendKind.OURS_IN_PROCESS, dir, BackendFixture.Store.NBD);
        f.start(BackendSpec.raw(f.image, 1).withNetwork(f.network().withReconnectDelay(reconnectDelaySeconds)));
        // Far above the reconnect delay: a request that neither completes nor fails is a hang.
        q = f.open(FrontendOptions.qemu(1)).queue(0).timeout(Duration.ofSeconds(60));
    }

    private boolean backendAlive() {
        return ((InProcessBackend) f.backend).alive();
    }

    @Test
    void requestsFailWithIoErrorWhileTheServerStaysAwayAndSucceedOnceItIsBack() throws Exception {
        start(DELAY_SECONDS);
        byte[] before = Patterns.bytes(1, BLOCK);
        assertEquals(BlkCommand.S_OK, q.write(100, before).status());
        assertEquals(BlkCommand.S_OK, q.flush().status());

        f.nbdServer().kill();
        assertEquals(BlkCommand.S_IOERR, q.write(200, Patterns.bytes(2, BLOCK)).status(), "write while the server is gone");
        assertEquals(BlkCommand.S_IOERR, q.read(100, BLOCK).status(), "read while the server is gone");
        assertTrue(backendAlive(), "the backend died with its storage server");

        f.nbdServer().restart();
        byte[] after = Patterns.bytes(3, BLOCK);
        // The first request after the restart may still meet a reconnect backing off; a few
        // delays later the disk must be back.
        int status = BlkCommand.S_IOERR;
        for (int attempt = 0; attempt < 10 && status != BlkCommand.S_OK; attempt++) {
            status = q.write(300, after).status();
        }
        assertEquals(BlkCommand.S_OK, status, "writes after the server came back");
        assertArrayEquals(before, q.read(100, BLOCK).data(), "data written before the server went away");
        assertArrayEquals(after, q.read(300, BLOCK).data());
        assertEquals(BlkCommand.S_OK, q.flush().status());
        try (NativeFile file = NativeFile.open(f.image, false, false)) {
            assertArrayEquals(before, file.readBytes(100 * 512, BLOCK));
            assertArrayEquals(after, file.readBytes(300 * 512, BLOCK));
        }
        assertTrue(backendAlive());
    }

    @Test
    void requestsWaitForAServerThatComesBackWithinTheDelay() throws Exception {
        start(30);
        byte[] data = Patterns.bytes(4, BLOCK);
        assertEquals(BlkCommand.S_OK, q.write(100, Patterns.bytes(5, BLOCK)).status());

        f.nbdServer().kill();
        GuestBuffer buf = q.ram().allocate(0, BLOCK, 4096);
        q.ram().segment(buf).copyFrom(MemorySegment.ofArray(data));
        BlkCommand write = BlkCommand.write(100, buf);
        q.submit(write);
        Thread.sleep(1000); // the write is now waiting for the server
        assertEquals(null, q.poll(), "a request completed while the server was away");
        f.nbdServer().restart();
        BlkCompletion done = q.await();
        assertEquals(write, done.command());
        assertEquals(BlkCommand.S_OK, done.status(), "the write that waited for the server");
        assertArrayEquals(data, q.read(100, BLOCK).data());
    }

    @Test
    void rbdRequestsWaitWhileTheOsdIsStoppedAndCompleteOnceItGoesOn() throws Exception {
        f = new BackendFixture(BackendKind.OURS_IN_PROCESS, dir, BackendFixture.Store.RBD);
        f.start(BackendSpec.raw(f.image, 1));
        q = f.open(FrontendOptions.qemu(1)).queue(0).timeout(Duration.ofSeconds(60));
        byte[] before = Patterns.bytes(6, BLOCK);
        assertEquals(BlkCommand.S_OK, q.write(100, before).status());
        byte[] data = Patterns.bytes(7, BLOCK);
        CephCluster ceph = CephCluster.shared();
        ceph.pauseOsd();
        try {
            GuestBuffer buf = q.ram().allocate(0, BLOCK, 4096);
            q.ram().segment(buf).copyFrom(MemorySegment.ofArray(data));
            BlkCommand write = BlkCommand.write(200, buf);
            q.submit(write);
            Thread.sleep(2000); // the write is now waiting for the OSD
            assertEquals(null, q.poll(), "a write completed while the only OSD was stopped");
            assertTrue(backendAlive());
        } finally {
            ceph.resumeOsd();
        }
        BlkCompletion done = q.await();
        assertEquals(BlkCommand.S_OK, done.status(), "the write that waited for the OSD");
        assertArrayEquals(before, q.read(100, BLOCK).data());
        assertArrayEquals(data, q.read(200, BLOCK).data());
        assertEquals(BlkCommand.S_OK, q.flush().status());
        try (NativeFile file = NativeFile.open(f.imageContent(), false, false)) {
            assertArrayEquals(before, file.readBytes(100 * 512, BLOCK));
            assertArrayEquals(data, file.readBytes(200 * 512, BLOCK));
        }
    }
}
