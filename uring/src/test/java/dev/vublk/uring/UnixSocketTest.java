package dev.vublk.uring;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

@ExtendWith(NoFdLeaks.class)
class UnixSocketTest {
    @TempDir
    Path dir;

    private final Arena arena = Arena.ofShared();

    /** NIO keeps a descriptor open for good once its socket code first runs: not a leak of ours. */
    @BeforeAll
    static void loadJdkSockets() throws IOException {
        ServerSocketChannel.open(StandardProtocolFamily.UNIX).close();
    }

    @AfterEach
    void close() {
        arena.close();
    }

    private MemorySegment segmentWith(byte[] content) {
        MemorySegment s = arena.allocate(Math.max(1, content.length));
        MemorySegment.copy(content, 0, s, ValueLayout.JAVA_BYTE, 0, content.length);
        return s;
    }

    /** A connected pair through a listener on {@code name}; the listener is closed again. */
    private UnixSocket[] pair(String name) throws IOException {
        try (UnixListener listener = UnixListener.listen(dir.resolve(name), 1)) {
            UnixSocket client = UnixSocket.connect(dir.resolve(name));
            return new UnixSocket[] {client, listener.accept()};
        }
    }

    @Test
    void listenCreatesASocketOnlyTheOwnerMayUse() throws IOException {
        Path path = dir.resolve("vhost.sock");
        try (UnixListener listener = UnixListener.listen(path, 4)) {
            assertFalse(listener.isClosed());
            assertEquals(Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE),
                    Files.getPosixFilePermissions(path));
            assertTrue(Fds.isCloexec(listener.fd()));
            assertEquals(0xC000, (Integer) Files.getAttribute(path, "unix:mode") & 0xF000, "a socket file");
        }
        assertFalse(Files.exists(path), "close removes the socket file");
    }

    /**
     * The socket is bound under a temporary name and renamed once it listens, so its path never
     * names a socket that refuses connections; no temporary name is left behind. A path whose
     * sibling name would not fit a socket address is bound directly.
     */
    @Test
    void theSocketAppearsListeningAndLeavesNoTemporaryName() throws IOException {
        Path sub = Files.createDirectories(dir.resolve("only"));
        Path path = sub.resolve("v.sock");
        try (UnixListener listener = UnixListener.listen(path, 1)) {
            assertNotEquals(path, UnixListener.temporaryName(path), "a temporary name is used here");
            try (var files = Files.list(sub)) {
                assertEquals(List.of(path), files.toList());
            }
            UnixSocket.connect(path).close();
        }
        // A directory that leaves room for a short name but not for the temporary one.
        Path deep = Files.createDirectories(sub.resolve("d".repeat(SocketAddress.PATH_MAX - 12 - sub.toString().length())));
        Path tight = deep.resolve("v.sock");
        assertEquals(tight, UnixListener.temporaryName(tight), "no room for a sibling name: bound directly");
        try (UnixListener listener = UnixListener.listen(tight, 1)) {
            UnixSocket.connect(tight).close();
        }
    }

    @Test
    void staleSocketFileIsReplaced() throws IOException {
        Path path = dir.resolve("stale.sock");
        // A socket file whose server is gone, as a crashed process leaves it.
        try (ServerSocketChannel old = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            old.bind(UnixDomainSocketAddress.of(path));
        }
        assertTrue(Files.exists(path));
        try (UnixListener listener = UnixListener.listen(path, 1);
             UnixSocket client = UnixSocket.connect(path);
             UnixSocket server = listener.accept()) {
            client.send(segmentWith(new byte[] {42}), 1);
            MemorySegment in = arena.allocate(1);
            server.receiveFully(in, 1);
            assertEquals(42, in.get(ValueLayout.JAVA_BYTE, 0));
        }
    }

    @Test
    void regularFileAtThePathIsRefusedAndKept() throws IOException {
        Path path = dir.resolve("precious.img");
        Files.write(path, new byte[] {1, 2, 3});
        IOException e = assertThrows(IOException.class, () -> UnixListener.listen(path, 1));
        assertEquals("refusing to replace " + path + ": it exists and is not a socket", e.getMessage());
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(path));
    }

    @Test
    void fifoAtThePathIsRefusedAndKept() throws Exception {
        Path path = dir.resolve("fifo");
        Process mkfifo = new ProcessBuilder("mkfifo", path.toString()).inheritIO().start();
        assertEquals(0, mkfifo.waitFor());
        assertThrows(IOException.class, () -> UnixListener.listen(path, 1));
        assertTrue(Files.exists(path));
    }

    @Test
    void dataAndDescriptorsRoundTrip() throws Exception {
        UnixSocket[] p = pair("fds.sock");
        int memA = MemFd.create("a", 4096), memB = MemFd.create("b", 8192);
        EventFd event = EventFd.create();
        byte[] header = new byte[] {1, 0, 0, 0, 8, 0, 0, 0, 9, 9, 9, 9};
        int[] received = null;
        try (UnixSocket client = p[0]; UnixSocket server = p[1]) {
            client.send(segmentWith(header), header.length, memA, memB, event.fd());
            MemorySegment in = arena.allocate(64);
            ReceivedMessage m = server.receive(in, header.length, 8);
            received = m.fds();
            assertEquals(header.length, m.bytes());
            assertArrayEquals(header, in.asSlice(0, header.length).toArray(ValueLayout.JAVA_BYTE));
            assertEquals(3, received.length);

            Set<Integer> numbers = new HashSet<>(Set.of(memA, memB, event.fd()));
            for (int fd : received) {
                assertTrue(numbers.add(fd), "received fd " + fd + " is a new number");
                assertTrue(Fds.isCloexec(fd), "received fd " + fd + " is close-on-exec");
            }
            // Same objects: what one side writes through its mapping, the other reads through its own.
            try (MappedRegion mine = MappedRegion.map(memB, 0, 8192, true);
                 MappedRegion theirs = MappedRegion.map(received[1], 0, 8192, true)) {
                mine.segment().set(ValueLayout.JAVA_LONG, 4096, 0xfeedL);
                assertEquals(0xfeedL, theirs.segment().get(ValueLayout.JAVA_LONG, 4096));
                theirs.segment().set(ValueLayout.JAVA_INT, 0, 31);
                assertEquals(31, mine.segment().get(ValueLayout.JAVA_INT, 0));
            }
            try (MappedRegion mine = MappedRegion.map(memA, 0, 4096, true);
                 MappedRegion theirs = MappedRegion.map(received[0], 0, 4096, false)) {
                mine.segment().set(ValueLayout.JAVA_BYTE, 4095, (byte) 0x5a);
                assertEquals((byte) 0x5a, theirs.segment().get(ValueLayout.JAVA_BYTE, 4095));
            }
            EventFd.write(received[2], 5);
            assertEquals(5, event.read());
        } finally {
            Fds.closeAllQuietly(received);
            Fds.close(memA);
            Fds.close(memB);
            event.close();
        }
    }

    @Test
    void moreDescriptorsThanAllowedIsAnErrorAndLeaksNothing() throws Exception {
        UnixSocket[] p = pair("ctrunc.sock");
        int[] sent = {MemFd.create("x", 0), MemFd.create("y", 0), MemFd.create("z", 0), MemFd.create("w", 0)};
        try (UnixSocket client = p[0]; UnixSocket server = p[1]) {
            MemorySegment in = arena.allocate(16);
            int before = Fds.openCount();
            client.send(segmentWith(new byte[] {7}), 1, sent);
            NativeException e = assertThrows(NativeException.class, () -> server.receive(in, 1, 2));
            assertEquals(Errno.E2BIG, e.errno());
            assertTrue(e.call().contains("truncated"), e.getMessage());
            assertEquals(before, Fds.openCount(), "the descriptors that did arrive are closed");

            client.send(segmentWith(new byte[] {8}), 1, sent[0]);
            assertThrows(NativeException.class, () -> server.receive(in, 1, 0));
            assertEquals(before, Fds.openCount());

            // The connection carries on.
            client.send(segmentWith(new byte[] {9}), 1);
            ReceivedMessage m = server.receive(in, 1, 0);
            assertEquals(1, m.bytes());
            assertEquals(0, m.fds().length);
            assertEquals(9, in.get(ValueLayout.JAVA_BYTE, 0));
        } finally {
            Fds.closeAllQuietly(sent);
        }
        assertThrows(IllegalArgumentException.class, () -> p[0].receive(arena.allocate(1), 1, UnixSocket.MAX_FDS + 1));
        assertThrows(IllegalArgumentException.class,
                () -> p[0].send(arena.allocate(1), 1, new int[UnixSocket.MAX_FDS + 1]));
    }

    @Test
    void buffersTheKernelCannotSafelyUseAreRefused() throws IOException {
        UnixSocket[] p = pair("bounds.sock");
        try (UnixSocket client = p[0]; UnixSocket server = p[1]) {
            MemorySegment small = arena.allocate(8);
            assertThrows(IllegalArgumentException.class, () -> client.send(small, 9));
            assertThrows(IllegalArgumentException.class, () -> server.receive(small, 9, 0));
            assertThrows(IllegalArgumentException.class, () -> server.receive(small, -1, 0));
            MemorySegment heap = MemorySegment.ofArray(new byte[8]);
            assertThrows(IllegalArgumentException.class, () -> client.send(heap, 8));
            assertThrows(IllegalArgumentException.class, () -> server.receiveFully(heap, 8));
        }
    }

    @Test
    void largeMessageArrivesWhole() throws Exception {
        byte[] big = new byte[3 << 20];
        new Random(3).nextBytes(big);
        MemorySegment out = segmentWith(big);
        UnixSocket[] p = pair("big.sock");
        try (UnixSocket client = p[0]; UnixSocket server = p[1]) {
            CompletableFuture<Void> sender = CompletableFuture.runAsync(() -> {
                try {
                    client.send(out, big.length);
                } catch (NativeException e) {
                    throw new RuntimeException(e);
                }
            });
            MemorySegment in = arena.allocate(big.length);
            server.receiveFully(in, big.length);
            sender.get(10, TimeUnit.SECONDS);
            assertArrayEquals(big, in.toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void receiveFullyFailsWhenThePeerClosesEarly() throws IOException {
        UnixSocket[] p = pair("eof.sock");
        try (UnixSocket server = p[1]) {
            try (UnixSocket client = p[0]) {
                client.send(segmentWith(new byte[] {1, 2, 3, 4, 5}), 5);
            }
            MemorySegment in = arena.allocate(10);
            EOFException e = assertThrows(EOFException.class, () -> server.receiveFully(in, 10));
            assertEquals("peer closed the connection", e.getMessage());
            assertArrayEquals(new byte[] {1, 2, 3, 4, 5}, in.asSlice(0, 5).toArray(ValueLayout.JAVA_BYTE));
        }
    }

    /** A receive on another thread, checked to be blocked (nothing was sent). */
    private static CompletableFuture<ReceivedMessage> blockedReceive(UnixSocket socket, MemorySegment in)
            throws InterruptedException {
        CompletableFuture<ReceivedMessage> receiver = CompletableFuture.supplyAsync(() -> {
            try {
                return socket.receive(in, 16, 4);
            } catch (NativeException e) {
                throw new RuntimeException(e);
            }
        });
        Thread.sleep(100);
        assertFalse(receiver.isDone(), "receive returned with nothing sent");
        return receiver;
    }

    /**
     * A graceful stop wakes the backend's reader without the front-end hearing of it: QEMU must
     * see the end only when the socket closes, after the queues published their completions.
     */
    @Test
    void shutdownInputWakesABlockedReceiveAndThePeerSeesNothingUntilClose() throws Exception {
        UnixSocket[] p = pair("shut-rd.sock");
        try (UnixSocket client = p[0]; UnixSocket server = p[1]) {
            MemorySegment in = arena.allocate(16);
            CompletableFuture<ReceivedMessage> receiver = blockedReceive(server, in);
            server.shutdownInput();
            assertEquals(0, receiver.get(5, TimeUnit.SECONDS).bytes());
            client.setTimeouts(java.time.Duration.ofMillis(200));
            NativeException quiet = assertThrows(NativeException.class, () -> client.receive(in, 16, 0),
                    "the peer read something (end of stream) before the socket was closed");
            assertEquals(Errno.EAGAIN, quiet.errno());
            server.close();
            assertEquals(0, client.receive(in, 16, 0).bytes(), "the peer sees the end once the socket is closed");
        }
    }

    @Test
    void shutdownWakesABlockedReceive() throws Exception {
        UnixSocket[] p = pair("shut.sock");
        try (UnixSocket client = p[0]; UnixSocket server = p[1]) {
            MemorySegment in = arena.allocate(16);
            CompletableFuture<ReceivedMessage> receiver = blockedReceive(server, in);
            server.shutdown();
            ReceivedMessage m = receiver.get(5, TimeUnit.SECONDS);
            assertEquals(0, m.bytes());
            assertEquals(0, client.receive(in, 16, 0).bytes(), "the peer sees the end of the stream");
            server.shutdown(); // twice is harmless
        }
    }

    @Test
    void closingTheListenerWakesABlockedAccept() throws Exception {
        Path path = dir.resolve("accept.sock");
        UnixListener listener = UnixListener.listen(path, 1);
        CompletableFuture<UnixSocket> acceptor = CompletableFuture.supplyAsync(() -> {
            try {
                return listener.accept();
            } catch (NativeException e) {
                throw new RuntimeException(e);
            }
        });
        Thread.sleep(100);
        assertFalse(acceptor.isDone(), "accept returned with nobody connecting");
        listener.close();
        ExecutionException e = assertThrows(ExecutionException.class, () -> acceptor.get(5, TimeUnit.SECONDS));
        NativeException cause = assertInstanceOf(NativeException.class, e.getCause().getCause());
        assertEquals("accept4", cause.call());
        assertTrue(listener.isClosed());
        assertFalse(Files.exists(path));
        listener.close();
    }

    @Test
    void adoptedListeningDescriptorAccepts() throws IOException {
        Path path = dir.resolve("adopt.sock");
        try (UnixListener original = UnixListener.listen(path, 1);
             UnixListener adopted = UnixListener.fromFd(Fds.dup(original.fd()));
             UnixSocket client = UnixSocket.connect(path);
             UnixSocket server = adopted.accept()) {
            assertNotEquals(original.fd(), adopted.fd());
            assertTrue(Fds.isCloexec(server.fd()));
            server.send(segmentWith(new byte[] {4, 5}), 2);
            MemorySegment in = arena.allocate(2);
            client.receiveFully(in, 2);
            assertArrayEquals(new byte[] {4, 5}, in.toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void connectErrorsNameThePath() {
        Path missing = dir.resolve("nobody.sock");
        NativeException e = assertThrows(NativeException.class, () -> UnixSocket.connect(missing));
        assertEquals("connect", e.call());
        assertEquals(Errno.ENOENT, e.errno());
        assertEquals(missing.toString(), e.file());

        Path tooLong = dir.resolve("x".repeat(120));
        NativeException longName = assertThrows(NativeException.class, () -> UnixSocket.connect(tooLong));
        assertEquals(Errno.ENAMETOOLONG, longName.errno());
        assertThrows(NativeException.class, () -> UnixListener.listen(tooLong, 1));
    }

    @Test
    void sendingOnAClosedConnectionIsEpipeNotASignal() throws IOException {
        UnixSocket[] p = pair("pipe.sock");
        p[1].close();
        try (UnixSocket client = p[0]) {
            NativeException e = assertThrows(NativeException.class, () -> {
                for (int i = 0; i < 10; i++) {
                    client.send(segmentWith(new byte[4096]), 4096);
                }
            });
            assertTrue(Arrays.asList(Errno.EPIPE, Errno.ECONNRESET).contains(e.errno()), e.getMessage());
        }
    }
}
