package dev.vublk.block.storage.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.storage.StorageDriver;
import dev.vublk.uring.Errno;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A server that lies costs the request it lied about and its connection, nothing else: the
 * request fails with EIO, the queue reconnects, and the next request reads the right data.
 */
class NbdProtocolViolationTest {
    @TempDir
    Path dir;

    static byte[] expected(long offset, int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = LyingNbdServer.byteAt(offset + i);
        }
        return b;
    }

    void check(LyingNbdServer.Lie lie, boolean structured) throws Exception {
        try (LyingNbdServer server = new LyingNbdServer(dir.resolve("lie.sock"), lie, structured);
             NbdVolume volume = NbdVolume.open(server.uri(), false, Duration.ofSeconds(5));
             StorageDriver d = new StorageDriver(volume)) {
            assertEquals(-Errno.EIO, d.tryRead(4096, 8192), lie + ": the lied-about read");
            assertTrue(server.lied());
            assertArrayEquals(expected(12345, 777), d.read(12345, 777), lie + ": a read after the reconnect");
            assertEquals(4096, d.write(0, new byte[4096]), lie + ": a write after the reconnect");
            assertEquals(0, d.flush());
        }
    }

    @ParameterizedTest
    @EnumSource(value = LyingNbdServer.Lie.class, names = {"HANG_UP_ON_EVERY_READ", "NEVER_ANSWER_READS"},
            mode = EnumSource.Mode.EXCLUDE)
    void structuredReplies(LyingNbdServer.Lie lie) throws Exception {
        check(lie, true);
    }

    /**
     * A request the server hangs up on every time is sent again on each new connection, but its
     * clock runs from the first loss: it fails after the reconnect delay instead of going round
     * forever, and other requests go on.
     */
    @Test
    void aRequestThatKeepsBreakingConnectionsGivesUpAfterTheDelay() throws Exception {
        try (LyingNbdServer server = new LyingNbdServer(dir.resolve("hup.sock"), LyingNbdServer.Lie.HANG_UP_ON_EVERY_READ, true);
             NbdVolume volume = NbdVolume.open(server.uri(), false, Duration.ofMillis(300));
             StorageDriver d = new StorageDriver(volume)) {
            assertEquals(-Errno.EIO, d.tryRead(0, 4096));
            assertTrue(server.lied());
            assertEquals(4096, d.write(0, new byte[4096]));
        }
    }

    /**
     * A stopping queue waits for its requests in flight, but not beyond the reconnect delay: a
     * stuck server costs them (EIO) and the queue still drains.
     */
    @Test
    void aStoppingQueueGivesUpOnAServerThatNeverAnswers() throws Exception {
        try (LyingNbdServer server = new LyingNbdServer(dir.resolve("stuck.sock"), LyingNbdServer.Lie.NEVER_ANSWER_READS, true);
             NbdVolume volume = NbdVolume.open(server.uri(), false, Duration.ofMillis(300))) {
            StorageDriver d = new StorageDriver(volume);
            int read = d.startReadv(0, d.buffers(new byte[4096], 1));
            while (!server.lied()) {
                d.ring().submit();
                d.ring().processCompletions();
                Thread.sleep(5);
            }
            d.queue().stop();
            assertEquals(-Errno.EIO, d.await(read));
            d.close(); // the ring drains: nothing of the queue's is left on it
        }
    }

    @ParameterizedTest
    @EnumSource(value = LyingNbdServer.Lie.class, names = {"BAD_MAGIC", "UNKNOWN_HANDLE"})
    void simpleReplies(LyingNbdServer.Lie lie) throws Exception {
        check(lie, false);
    }
}
