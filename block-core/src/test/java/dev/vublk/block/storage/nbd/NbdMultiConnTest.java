package dev.vublk.block.storage.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.storage.StorageDriver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Flushes across the connections of one volume, judged by nbdkit's log filter, which logs every
 * command per connection: without CAN_MULTI_CONN (the multi-conn filter hiding it) a flush on
 * one queue must reach every queue's connection, and a queue that wrote since must flush its own
 * before it goes; with CAN_MULTI_CONN one flush is enough.
 */
class NbdMultiConnTest extends NbdFixture {
    private static final Pattern LINE = Pattern.compile("connection=(\\d+) (Write|Flush|Zero) ");

    /** A queue on its own thread, as in the backend: writes once, then serves its ring until told to stop. */
    static final class QueueThread {
        final CountDownLatch wrote = new CountDownLatch(1);
        volatile boolean stop;
        volatile int writeAfterFlush = -1;
        final CompletableFuture<Integer> result = new CompletableFuture<>();
        private final Thread thread;

        QueueThread(NbdVolume volume, long offset, boolean writeAgainBeforeStop) {
            thread = Thread.ofPlatform().start(() -> {
                try (StorageDriver d = new StorageDriver(volume)) {
                    int r = d.write(offset, StorageDriver.pattern(4096, offset));
                    wrote.countDown();
                    while (!stop) {
                        d.turn();
                    }
                    if (writeAgainBeforeStop) {
                        writeAfterFlush = d.write(offset + 4096, StorageDriver.pattern(4096, 3));
                    }
                    result.complete(r);
                } catch (Throwable e) {
                    wrote.countDown();
                    result.completeExceptionally(e);
                }
            });
        }

        int finish() throws Exception {
            stop = true;
            thread.join(30_000);
            assertFalse(thread.isAlive(), "queue thread did not stop");
            return result.get();
        }
    }

    /** Per connection, the commands in log order (W, F, Z). */
    Map<Integer, String> commands(Path log) throws IOException {
        Map<Integer, String> byConn = new TreeMap<>();
        for (String line : Files.readAllLines(log)) {
            Matcher m = LINE.matcher(line);
            if (m.find()) {
                byConn.merge(Integer.parseInt(m.group(1)), m.group(2).substring(0, 1), String::concat);
            }
        }
        return byConn;
    }

    Map<Integer, String> run(boolean multiConn) throws Exception {
        Path log = dir.resolve("nbdkit.log");
        List<String> args = new ArrayList<>(List.of("--filter=log", "--filter=multi-conn", "memory", "64M",
                "multi-conn-mode=" + (multiConn ? "plugin" : "disable"), "logfile=" + log));
        server = NbdServer.nbdkit(dir.resolve("k.sock"), args.toArray(String[]::new));
        try (NbdVolume volume = NbdVolume.open(server.uri(), false, Duration.ofSeconds(5))) {
            assertEquals(multiConn, volume.export().multiConn(), volume.describe());
            QueueThread b = new QueueThread(volume, 1 << 20, false);
            QueueThread c = new QueueThread(volume, 2 << 20, true);
            assertTrue(b.wrote.await(30, TimeUnit.SECONDS) && c.wrote.await(30, TimeUnit.SECONDS));
            try (StorageDriver a = new StorageDriver(volume)) {
                assertEquals(4096, a.write(0, StorageDriver.pattern(4096, 1)));
                assertEquals(0, a.flush());
            }
            assertEquals(4096, b.finish());
            assertEquals(4096, c.finish());
            assertEquals(4096, c.writeAfterFlush);
        }
        closeAll(); // the log is complete once nbdkit is gone
        return commands(log);
    }

    @Test
    void withoutMultiConnEveryConnectionFlushes() throws Exception {
        Map<Integer, String> log = run(false);
        // connection 1 is the volume's control connection; the three queues follow, each wrote once.
        List<String> queues = log.values().stream().filter(s -> s.startsWith("W")).toList();
        assertEquals(3, queues.size(), log.toString());
        assertTrue(queues.contains("WF"), log.toString());          // the flushing queue, and the idle one asked by it
        assertTrue(queues.contains("WFWF"), log.toString());        // wrote again after the flush: flushed as it stopped
        assertEquals(3, queues.stream().filter(s -> s.startsWith("WF")).count(), log.toString());
    }

    @Test
    void withMultiConnOneFlushIsEnough() throws Exception {
        Map<Integer, String> log = run(true);
        List<String> queues = log.values().stream().filter(s -> s.startsWith("W")).toList();
        assertEquals(3, queues.size(), log.toString());
        assertEquals(1, queues.stream().filter(s -> s.contains("F")).count(), log.toString());
    }
}
