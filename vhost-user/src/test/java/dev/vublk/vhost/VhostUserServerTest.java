package dev.vublk.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.uring.Fds;
import dev.vublk.uring.UnixListener;
import dev.vublk.uring.UnixSocket;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VhostUserServerTest {
    @TempDir
    Path dir;

    /** Whatever ends one connection (here the device factory failing), the server accepts the next. */
    @Test
    void aFailedConnectionDoesNotStopTheServer() throws Exception {
        int fdsBefore = Fds.openCount();
        AtomicInteger connections = new AtomicInteger();
        CompletableFuture<Void> served = new CompletableFuture<>();
        try (UnixListener listener = UnixListener.listen(dir.resolve("s"), 1)) {
            VhostUserServer server = new VhostUserServer(listener, () -> {
                if (connections.incrementAndGet() == 1) {
                    throw new IllegalStateException("no device for this one");
                }
                return new MockDevice();
            });
            Thread t = new Thread(() -> {
                try {
                    server.run();
                    served.complete(null);
                } catch (Throwable e) {
                    served.completeExceptionally(e);
                }
            });
            t.start();
            try (Connection first = new Connection(UnixSocket.connect(dir.resolve("s")))) {
                assertNull(first.receive(), "the failed connection is closed");
            }
            try (Connection second = new Connection(UnixSocket.connect(dir.resolve("s")))) {
                second.send(new MessageHeader(MessageType.GET_QUEUE_NUM.code(), MessageHeader.VERSION, 0), ByteBuffer.allocate(0));
                // A dead server loop never accepts: the connect succeeds (backlog) but no answer comes.
                CompletableFuture<Message> answer = CompletableFuture.supplyAsync(() -> {
                    try {
                        return second.receive();
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                try {
                    assertEquals(MockDevice.QUEUES, answer.get(10, TimeUnit.SECONDS).payload().getLong(0));
                } finally {
                    second.shutdown();
                }
            }
            assertTrue(t.isAlive(), "the server loop ended: " + served);
            server.stop();
            served.get(10, TimeUnit.SECONDS);
        }
        assertEquals(fdsBefore, Fds.openCount());
    }
}
