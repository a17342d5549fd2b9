package dev.vublk.vhost;

import dev.vublk.uring.Errno;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.UnixSocket;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A {@link BackendRequestHandler} on its own thread at one end of a socketpair, and a minimal
 * front-end at the other: raw messages out (any header, any descriptors), replies back.
 */
final class HandlerHarness implements AutoCloseable {
    static final int FLAGS = MessageHeader.VERSION;
    static final int NEED_REPLY = MessageHeader.VERSION | MessageHeader.NEED_REPLY;

    private final UnixSocket frontEnd;
    private final Connection frontEndConnection;
    private final Connection backEnd;
    private final CompletableFuture<BackendRequestHandler.Ending> ending = new CompletableFuture<>();
    private final Thread thread;

    HandlerHarness(VirtioDevice device) throws IOException {
        UnixSocket[] pair = UnixSocket.pair();
        frontEnd = pair[0];
        frontEndConnection = new Connection(frontEnd);
        backEnd = new Connection(pair[1]);
        BackendRequestHandler handler = new BackendRequestHandler(backEnd, device);
        thread = new Thread(() -> {
            try {
                ending.complete(handler.run());
            } catch (Throwable t) {
                ending.completeExceptionally(t); // run() must never throw: the tests check this
            } finally {
                backEnd.close(); // as the server does: the front-end then reads end of stream
            }
        }, "handler-under-test");
        thread.start();
    }

    /** Sends one message as given: the declared size need not match the bytes that follow. */
    void send(int request, int flags, int declaredSize, byte[] payload, int... fds) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(MessageHeader.SIZE + payload.length);
            new MessageHeader(request, flags, declaredSize).encode(out.asSlice(0, MessageHeader.SIZE).asByteBuffer());
            MemorySegment.copy(MemorySegment.ofArray(payload), 0, out, MessageHeader.SIZE, payload.length);
            frontEnd.send(out, out.byteSize(), fds);
        }
    }

    void send(MessageType type, int flags, ByteBuffer payload, int... fds) throws IOException {
        byte[] bytes = payload == null ? new byte[0] : bytesOf(payload);
        send(type.code(), flags, bytes.length, bytes, fds);
    }

    /** Sends a request with NEED_REPLY and returns the answer. */
    Message exchange(MessageType type, ByteBuffer payload, int... fds) throws IOException {
        send(type, NEED_REPLY, payload, fds);
        return receive();
    }

    /** The u64 ack of a request sent with NEED_REPLY (REPLY_ACK negotiated): 0 success, else failure. */
    long ack(MessageType type, ByteBuffer payload, int... fds) throws IOException {
        Message reply = exchange(type, payload, fds);
        if (reply == null || reply.type() != type || reply.size() != 8) {
            throw new AssertionError("no u64 reply to " + type + ": " + (reply == null ? "end of stream" : reply.header()));
        }
        return reply.payload().getLong(0);
    }

    /**
     * The next reply, or null at end of stream. A back-end that drops the connection with our
     * bytes still unread resets it (ECONNRESET) once its replies are read: that is an end too.
     */
    Message receive() throws IOException {
        try {
            return frontEndConnection.receive();
        } catch (NativeException e) {
            if (e.errno() == Errno.ECONNRESET) {
                return null;
            }
            throw e;
        }
    }

    /** Negotiates the protocol features the tests rely on (REPLY_ACK among them). */
    void negotiate(long protocolFeatures) throws IOException {
        send(MessageType.SET_PROTOCOL_FEATURES, FLAGS, Payloads.u64(protocolFeatures));
    }

    /** Ends the front-end's sending and waits for the handler to finish. */
    BackendRequestHandler.Ending finish(long seconds) throws IOException, InterruptedException, ExecutionException,
            TimeoutException {
        frontEnd.shutdownOutput();
        return ending.get(seconds, TimeUnit.SECONDS);
    }

    /** How the handler ended, once it has (null while it runs). */
    BackendRequestHandler.Ending endingNow() throws ExecutionException, InterruptedException {
        return ending.isDone() ? ending.get() : null;
    }

    static byte[] bytesOf(ByteBuffer b) {
        ByteBuffer d = b.duplicate();
        d.rewind();
        byte[] out = new byte[d.remaining()];
        d.get(out);
        return out;
    }

    @Override
    public void close() throws InterruptedException {
        frontEnd.shutdown();
        thread.join(10_000);
        frontEndConnection.close();
    }
}
