package dev.vublk.vhost;

import dev.vublk.uring.Fds;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.ReceivedMessage;
import dev.vublk.uring.UnixSocket;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;

/**
 * Message framing on a vhost-user socket, for both ends: a header with any descriptors, then the
 * payload. Used by one thread at a time.
 */
public final class Connection implements AutoCloseable {
    /** vhost-user never sends more descriptors than this in one message. */
    public static final int MAX_FDS = 8;

    private final UnixSocket socket;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer = arena.allocate(MessageHeader.SIZE + MessageType.MAX_PAYLOAD, 8);

    public Connection(UnixSocket socket) {
        this.socket = socket;
    }

    public UnixSocket socket() {
        return socket;
    }

    /**
     * The next message, or null when the peer closed the connection between messages. Framing
     * errors (bad version, oversized payload, descriptors beyond {@link #MAX_FDS}) throw
     * {@link ProtocolException}; received descriptors are closed on every error path.
     */
    public Message receive() throws IOException {
        ReceivedMessage first;
        try {
            first = socket.receive(buffer, MessageHeader.SIZE, MAX_FDS);
        } catch (NativeException e) {
            if (e.errno() == dev.vublk.uring.Errno.E2BIG) {
                throw new ProtocolException("message carried more than " + MAX_FDS + " descriptors");
            }
            throw e;
        }
        if (first.bytes() == 0) {
            Fds.closeAllQuietly(first.fds());
            return null;
        }
        try {
            if (first.bytes() < MessageHeader.SIZE) {
                socket.receiveFully(buffer.asSlice(first.bytes()), MessageHeader.SIZE - first.bytes());
            }
            MessageHeader header = MessageHeader.decode(buffer.asSlice(0, MessageHeader.SIZE).asByteBuffer());
            if (header.version() != MessageHeader.VERSION) {
                throw new ProtocolException("unsupported message version " + header.version()
                        + " in request " + header.request());
            }
            if (header.size() < 0 || header.size() > MessageType.MAX_PAYLOAD) {
                throw new ProtocolException("payload of " + Integer.toUnsignedString(header.size())
                        + " bytes in request " + header.request() + " exceeds " + MessageType.MAX_PAYLOAD);
            }
            MemorySegment payload = buffer.asSlice(MessageHeader.SIZE, header.size());
            if (header.size() > 0) {
                socket.receiveFully(payload, header.size());
            }
            byte[] copy = payload.toArray(ValueLayout.JAVA_BYTE);
            return new Message(header, ByteBuffer.wrap(copy), first.fds());
        } catch (IOException | RuntimeException e) {
            Fds.closeAllQuietly(first.fds());
            throw e;
        }
    }

    /** Sends a message: header, payload and descriptors in one call. */
    public synchronized void send(MessageHeader header, ByteBuffer payload, int... fds) throws NativeException {
        int size = payload == null ? 0 : payload.remaining();
        if (size != header.size()) {
            throw new IllegalArgumentException("header size " + header.size() + " but payload " + size);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(MessageHeader.SIZE + size);
            header.encode(out.asSlice(0, MessageHeader.SIZE).asByteBuffer());
            if (size > 0) {
                out.asSlice(MessageHeader.SIZE).asByteBuffer().put(payload.duplicate());
            }
            socket.send(out, out.byteSize(), fds);
        }
    }

    /** Answers {@code request} with {@code payload} (REPLY | version 1). */
    public void reply(Message request, ByteBuffer payload, int... fds) throws NativeException {
        send(request.header().reply(payload.remaining()), payload, fds);
    }

    /**
     * Wakes a thread blocked in {@link #receive()} (it reads end of stream) without the front-end
     * seeing anything: only our receiving side is shut. The front-end learns of the end when the
     * connection is closed, after the queues have finished and published what was in flight and
     * signalled the guest; were it told first, QEMU would stop the device and drop its call
     * eventfds while those completions are still coming, and the guest would never hear of them.
     */
    public void shutdown() {
        socket.shutdownInput();
    }

    @Override
    public void close() {
        socket.close();
        arena.close();
    }
}
