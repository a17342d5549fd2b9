package dev.vublk.block.storage.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.block.storage.StorageDriver;
import dev.vublk.uring.Errno;
import java.io.IOException;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The server killed mid-run: requests wait for it, fail with EIO once they waited longer than the
 * reconnect delay, and succeed again once it is back, with the data written before intact.
 */
class NbdReconnectTest extends NbdFixture {
    void open(Duration delay) throws IOException {
        open(NbdServer.qemuNbd(rawFile(16 << 20), dir.resolve("q.sock")), delay);
    }

    @Test
    void requestsFailAfterTheDelayThenSucceedOnceTheServerIsBack() throws IOException {
        open(Duration.ofMillis(300));
        byte[] data = StorageDriver.pattern(64 << 10, 11);
        assertEquals(data.length, driver.write(1 << 20, data));
        assertEquals(0, driver.flush());
        server.stop();
        assertEquals(-Errno.EIO, driver.tryRead(0, 4096), "a read while the server is away");
        assertEquals(-Errno.EIO, driver.write(0, new byte[4096]), "a write while the server is still away");
        assertEquals(-Errno.EIO, driver.flush(), "a flush while the server is still away");
        server.start();
        assertArrayEquals(data, driver.read(1 << 20, data.length), "data written before the server went away");
        assertEquals(4096, driver.write(0, StorageDriver.pattern(4096, 12)));
        assertArrayEquals(StorageDriver.pattern(4096, 12), driver.read(0, 4096));
    }

    @Test
    void requestsInFlightWaitAndAreSentAgainWhenTheServerComesBackInTime() throws IOException {
        open(Duration.ofSeconds(30));
        server.stop();
        // Many requests waiting at once: they go out again, all of them, on the new connection.
        int n = 20;
        int[] tags = new int[n];
        for (int i = 0; i < n; i++) {
            tags[i] = driver.startWritev(i * 8192L, driver.buffers(StorageDriver.pattern(8192, 40 + i), 1));
        }
        for (int k = 0; k < 5; k++) {
            driver.ring().processCompletions();
        }
        for (int i = 0; i < n; i++) {
            assertEquals(StorageDriver.PENDING, driver.result(tags[i]), "write " + i + " completed while the server was away");
        }
        server.start();
        for (int i = 0; i < n; i++) {
            assertEquals(8192, driver.await(tags[i]), "write " + i);
        }
        for (int i = 0; i < n; i++) {
            assertArrayEquals(StorageDriver.pattern(8192, 40 + i), driver.read(i * 8192L, 8192), "data of write " + i);
        }
    }

    @Test
    void aQueueOpenedWhileTheServerIsAwayConnectsWhenItComesBack() throws IOException {
        open(Duration.ofSeconds(30));
        driver.close();
        driver = null;
        server.stop();
        driver = new StorageDriver(volume);
        int flush = driver.startFlush();
        driver.ring().processCompletions();
        assertEquals(StorageDriver.PENDING, driver.result(flush));
        server.start();
        assertEquals(0, driver.await(flush));
        assertEquals(4096, driver.write(0, new byte[4096]));
    }
}
