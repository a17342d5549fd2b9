package dev.vublk.block.storage.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.vublk.uring.Errno;
import dev.vublk.uring.IoVecArray;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The server killed mid-run: requests wait for it, fail with EIO once they waited longer than the
 * reconnect delay, and succeed again once it is back, with the data written before intact.
 */
class NbdReconnectTest {
    @TempDir
    Path dir;
    NbdServer server;
    NbdVolume volume;
    QueueDriver driver;

    @AfterEach
    void tearDown() throws IOException {
        if (driver != null) {
            driver.close();
        }
        if (volume != null) {
            volume.close();
        }
        if (server != null) {
            server.close();
        }
    }

    void open(Duration delay) throws IOException {
        Path file = dir.resolve("disk.raw");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(16 << 20);
        }
        server = NbdServer.qemuNbd(file, dir.resolve("q.sock"));
        volume = NbdVolume.open(server.uri(), false, delay);
        driver = new QueueDriver(volume);
    }

    @Test
    void requestsFailAfterTheDelayThenSucceedOnceTheServerIsBack() throws IOException {
        open(Duration.ofMillis(300));
        byte[] data = QueueDriver.pattern(64 << 10, 11);
        assertEquals(data.length, driver.write(1 << 20, data));
        assertEquals(0, driver.flush());
        server.stop();
        byte[] got = new byte[4096];
        assertEquals(-Errno.EIO, driver.tryRead(0, 4096, got), "a read while the server is away");
        assertEquals(-Errno.EIO, driver.write(0, new byte[4096]), "a write while the server is still away");
        assertEquals(-Errno.EIO, driver.flush(), "a flush while the server is still away");
        server.start();
        assertArrayEquals(data, driver.read(1 << 20, data.length), "data written before the server went away");
        assertEquals(4096, driver.write(0, QueueDriver.pattern(4096, 12)));
        assertArrayEquals(QueueDriver.pattern(4096, 12), driver.read(0, 4096));
    }

    @Test
    void requestsInFlightWaitAndAreSentAgainWhenTheServerComesBackInTime() throws IOException {
        open(Duration.ofSeconds(30));
        server.stop();
        // Many requests waiting at once: they go out again, all of them, on the new connection.
        int n = 20;
        MemorySegment[] bufs = new MemorySegment[n];
        for (int i = 0; i < n; i++) {
            byte[] d = QueueDriver.pattern(8192, 40 + i);
            bufs[i] = driver.buffer(8192);
            MemorySegment.copy(d, 0, bufs[i], java.lang.foreign.ValueLayout.JAVA_BYTE, 0, d.length);
            IoVecArray iov = new IoVecArray(driver.arena, 1);
            iov.add(bufs[i].address(), 8192);
            driver.startWritev(i, i * 8192L, iov);
        }
        for (int k = 0; k < 5; k++) {
            driver.ring.processCompletions();
        }
        for (int i = 0; i < n; i++) {
            assertFalse(driver.isDone(i), "write " + i + " completed while the server was away");
        }
        server.start();
        for (int i = 0; i < n; i++) {
            assertEquals(8192, driver.await(i), "write " + i);
        }
        for (int i = 0; i < n; i++) {
            assertArrayEquals(QueueDriver.pattern(8192, 40 + i), driver.read(i * 8192L, 8192), "data of write " + i);
        }
    }

    @Test
    void aQueueOpenedWhileTheServerIsAwayConnectsWhenItComesBack() throws IOException {
        open(Duration.ofSeconds(30));
        driver.close();
        driver = null;
        server.stop();
        driver = new QueueDriver(volume);
        driver.startFlush(0);
        driver.ring.processCompletions();
        assertFalse(driver.isDone(0));
        server.start();
        assertEquals(0, driver.await(0));
        assertEquals(4096, driver.write(0, new byte[4096]));
    }
}
