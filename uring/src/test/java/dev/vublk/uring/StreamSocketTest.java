package dev.vublk.uring;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link StreamSocket} against Java's own sockets on the other side (TCP over IPv4 and IPv6, Unix),
 * and the ring's timer, used by network stores to pace reconnects.
 */
@ExtendWith(NoFdLeaks.class)
class StreamSocketTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    /** The JDK keeps descriptors of its own after its first TCP socket (not ours to count). */
    @BeforeAll
    static void warmUpJavaSockets() throws Exception {
        for (String host : new String[] {"127.0.0.1", "::1"}) {
            ServerSocket server = new ServerSocket(0, 1, InetAddress.getByName(host));
            CompletableFuture<Void> peer = serveOnce(server);
            try (Socket c = new Socket(server.getInetAddress(), server.getLocalPort())) {
                c.getOutputStream().write(new byte[5]);
                c.getInputStream().readNBytes(5);
            }
            peer.get();
        }
    }

    /** Sends 5 bytes from us, the peer echoes them back with one added to each, then closes. */
    private static void echo(StreamSocket s, Arena arena) throws IOException {
        MemorySegment buf = arena.allocate(8);
        buf.copyFrom(MemorySegment.ofArray(new byte[] {1, 2, 3, 4, 5}));
        s.writeFully(buf, 5);
        buf.fill((byte) 0);
        s.readFully(buf, 5);
        assertArrayEquals(new byte[] {2, 3, 4, 5, 6}, buf.asSlice(0, 5).toArray(ValueLayout.JAVA_BYTE));
        assertThrows(EOFException.class, () -> s.readFully(buf, 1), "the peer closed");
    }

    private static CompletableFuture<Void> serveOnce(ServerSocket server) {
        return CompletableFuture.runAsync(() -> {
            try (server; Socket c = server.accept(); InputStream in = c.getInputStream(); OutputStream out = c.getOutputStream()) {
                byte[] b = in.readNBytes(5);
                for (int i = 0; i < b.length; i++) {
                    b[i]++;
                }
                out.write(b);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
    }

    @Test
    void tcpOverIpv4AndIpv6() throws Exception {
        for (String host : new String[] {"127.0.0.1", "::1"}) {
            InetAddress address = InetAddress.getByName(host);
            ServerSocket server = new ServerSocket(0, 1, address);
            CompletableFuture<Void> peer = serveOnce(server);
            try (Arena arena = Arena.ofConfined(); StreamSocket s = StreamSocket.connect(address, server.getLocalPort(), TIMEOUT)) {
                assertTrue(s.peer().endsWith(":" + server.getLocalPort()), s.peer());
                echo(s, arena);
            }
            peer.get();
        }
    }

    /**
     * Signals arriving while a TCP connect waits do not end it: the JVM handles some signals
     * itself, and a blocking connect would report EINTR with the handshake still going on.
     * The listener's backlog is full, so our SYN is dropped and retried after a second; SIGPIPE
     * (which the JVM handles and ignores) hits the connecting thread meanwhile, then the backlog
     * is drained and the retried SYN gets through.
     */
    @Test
    void signalsDuringATcpConnectDoNotEndIt() throws Exception {
        InetAddress address = InetAddress.getByName("127.0.0.1");
        try (ServerSocket server = new ServerSocket(0, 1, address)) {
            List<Socket> queued = new ArrayList<>();
            try {
                while (true) {
                    Socket c = new Socket();
                    try {
                        c.connect(server.getLocalSocketAddress(), 300);
                        queued.add(c);
                    } catch (SocketTimeoutException full) {
                        c.close();
                        break;
                    }
                }
                AtomicLong tid = new AtomicLong();
                CompletableFuture<StreamSocket> connecting = CompletableFuture.supplyAsync(() -> {
                    tid.set(syscall(SYS_GETTID, 0, 0, 0));
                    try {
                        return StreamSocket.connect(address, server.getLocalPort(), TIMEOUT);
                    } catch (NativeException e) {
                        throw new CompletionException(e);
                    }
                });
                long pid = ProcessHandle.current().pid();
                for (int i = 0; i < 20; i++) {
                    Thread.sleep(25);
                    if (tid.get() != 0) {
                        assertEquals(0, syscall(SYS_TGKILL, pid, tid.get(), SIGPIPE));
                    }
                }
                for (Socket c : queued) {
                    server.accept().close();
                }
                CompletableFuture<Void> peer = serveOnce(server);
                try (Arena arena = Arena.ofConfined(); StreamSocket s = connecting.get()) {
                    echo(s, arena);
                }
                peer.get();
            } finally {
                for (Socket c : queued) {
                    c.close();
                }
            }
        }
    }

    private static final long SYS_GETTID = 186, SYS_TGKILL = 234, SIGPIPE = 13;

    private static long syscall(long nr, long a, long b, long c) {
        return Libc.syscall(nr, a, b, c, 0L, 0L, 0L);
    }

    @Test
    void unix() throws Exception {
        Path path = dir.resolve("s.sock");
        try (UnixListener listener = UnixListener.listen(path, 1); Arena arena = Arena.ofConfined();
             StreamSocket s = StreamSocket.connect(path, TIMEOUT); UnixSocket peer = listener.accept()) {
            MemorySegment buf = arena.allocate(8);
            buf.set(ValueLayout.JAVA_INT, 0, 0x01020304);
            s.writeFully(buf, 4);
            MemorySegment got = arena.allocate(8);
            peer.receiveFully(got, 4);
            assertEquals(0x01020304, got.get(ValueLayout.JAVA_INT, 0));
            peer.send(buf, 4);
            s.readFully(got, 4);
            assertEquals(0x01020304, got.get(ValueLayout.JAVA_INT, 0));
        }
    }

    @Test
    void nobodyListeningIsRefused() {
        NativeException e = assertThrows(NativeException.class, () -> StreamSocket.connect(dir.resolve("none.sock"), TIMEOUT));
        assertEquals(Errno.ENOENT, e.errno());
    }

    /** A peer that says nothing costs the reader its timeout, then an error naming it. */
    @Test
    void aSilentPeerTimesOut() throws Exception {
        Path path = dir.resolve("s.sock");
        try (UnixListener listener = UnixListener.listen(path, 1); Arena arena = Arena.ofConfined();
             StreamSocket s = StreamSocket.connect(path, Duration.ofMillis(100)); UnixSocket peer = listener.accept()) {
            NativeException e = assertThrows(NativeException.class, () -> s.readFully(arena.allocate(4), 4));
            assertEquals(Errno.ETIMEDOUT, e.errno());
            assertTrue(e.getMessage().contains("timed out"), e.getMessage());
        }
    }

    /** A shutdown socket ends a receive standing on the ring: how a stopping queue drains. */
    @Test
    void shutdownEndsAReceiveOnTheRing() throws Exception {
        Path path = dir.resolve("s.sock");
        Completions done = new Completions();
        try (UnixListener listener = UnixListener.listen(path, 1); Arena arena = Arena.ofConfined();
             StreamSocket s = StreamSocket.connect(path, TIMEOUT); UnixSocket peer = listener.accept();
             IoUring ring = new IoUring(8)) {
            ring.read(s.fd(), arena.allocate(16).address(), 16, 0, done, 1);
            ring.submit();
            s.shutdown();
            ring.drain();
            done.assertResult(1, 0);
        }
    }

    @Test
    void timerExpiresOrIsCancelled() throws Exception {
        Completions done = new Completions();
        try (Arena arena = Arena.ofConfined(); IoUring ring = new IoUring(8)) {
            ring.timeout(arena.allocate(16, 8), 1_000_000L, done, 1);
            ring.drain();
            done.assertResult(1, -Errno.ETIME);
            int id = ring.timeout(arena.allocate(16, 8), 3_600_000_000_000L, done, 2);
            ring.cancel(id, done, 3);
            ring.drain();
            done.assertResult(2, -Errno.ECANCELED);
            done.assertResult(3, 0);
        }
    }
}
