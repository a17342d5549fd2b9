package dev.vublk.block.storage.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockWorker;
import dev.vublk.block.raw.RawImage;
import dev.vublk.uring.Errno;
import dev.vublk.uring.Fds;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * A worker over NBD stops like any other: once stopped, its ring drains to nothing in flight
 * (the standing receive, the reconnect timer, the flush mailbox's poll all end), and closing
 * worker, ring and volume leaves no descriptor open.
 */
class NbdStopTest extends NbdFixture {
    private int result;
    private boolean done;

    private int run(IoUring ring) throws IOException {
        while (!done) {
            ring.submitAndWait();
        }
        done = false;
        return result;
    }

    private void complete(long tag, int res) {
        result = res;
        done = true;
    }

    /** Does I/O through a worker, then (with the server killed first if {@code serverAway}) stops and closes it all. */
    void stopAndClose(NbdServer s, boolean serverAway) throws IOException {
        server = s;
        int before = Fds.openCount();
        try (Arena arena = Arena.ofConfined()) {
            NbdVolume volume = NbdVolume.open(s.uri(), false, Duration.ofSeconds(30));
            RawImage image = RawImage.over(volume, false);
            IoUring ring = new IoUring(32);
            BlockWorker worker = image.newWorker(ring);
            MemorySegment buf = arena.allocate(8192, 4096);
            buf.fill((byte) 0x3c);
            IoVecArray iov = new IoVecArray(arena, 1);
            iov.add(buf.address(), 8192);
            worker.write(4096, iov, this::complete, 0);
            assertEquals(8192, run(ring));
            buf.fill((byte) 0);
            worker.read(4096, iov, this::complete, 0);
            assertEquals(8192, run(ring));
            assertArrayEquals(new byte[] {0x3c, 0x3c}, new byte[] {buf.get(ValueLayout.JAVA_BYTE, 0), buf.get(ValueLayout.JAVA_BYTE, 8191)});
            if (serverAway) {
                server.stop();
                worker.flush(this::complete, 0); // waits for a reconnect (30 s) until the stop
                for (int i = 0; i < 3; i++) {
                    ring.processCompletions();
                }
            }
            assertTrue(ring.inFlight() > 0, "standing operations on the ring before the stop");
            worker.stop();
            long deadline = System.nanoTime() + 20_000_000_000L;
            // Polled, not waited for: a ring that never drains must fail the test, not hang it.
            while (ring.inFlight() > 0 && System.nanoTime() < deadline) {
                ring.submit();
                if (ring.processCompletions() == 0) {
                    NbdServer.sleep(5);
                }
            }
            assertEquals(0, ring.inFlight(), "operations left on the ring after the stop");
            if (serverAway) {
                assertTrue(done, "the flush waiting for a reconnect completed at the stop");
                assertEquals(-Errno.EIO, result);
            }
            worker.close();
            ring.close();
            if (serverAway) {
                // The closing flush finds no server; the volume is closed all the same.
                IOException e = assertThrows(IOException.class, image::close);
                assertTrue(e.getMessage().contains("cannot connect to NBD server"), e.getMessage());
            } else {
                image.close();
            }
        }
        assertEquals(before, Fds.openCount(), "descriptors open after close");
    }

    @Test
    void stopsAndClosesWhileConnected() throws IOException {
        stopAndClose(NbdServer.qemuNbd(rawFile(4 << 20), dir.resolve("q.sock")), false);
    }

    @Test
    void stopsAndClosesWhileWaitingForTheServer() throws IOException {
        stopAndClose(NbdServer.qemuNbd(rawFile(4 << 20), dir.resolve("q.sock")), true);
    }

    @Test
    void stopsAndClosesWithTheFlushMailbox() throws IOException {
        stopAndClose(NbdServer.nbdkit(dir.resolve("k.sock"), "--filter=multi-conn", "memory", "4M", "multi-conn-mode=disable"), false);
    }

    @Test
    void stopsAndClosesWithTheFlushMailboxWhileWaitingForTheServer() throws IOException {
        stopAndClose(NbdServer.nbdkit(dir.resolve("k.sock"), "--filter=multi-conn", "memory", "4M", "multi-conn-mode=disable"), true);
    }
}
