package dev.vublk.vhost;

import dev.vublk.uring.EventFd;
import dev.vublk.uring.Fds;
import dev.vublk.uring.MemFd;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import dev.vublk.uring.UnixSocket;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A sequence of raw front-end messages as bytes: the fuzz target's input format, with an encoder
 * for the seed corpus. Each message is, little-endian:
 * <pre>
 * u32 request, u32 flags, u32 declared size, u16 payload length, u8 descriptor count,
 * count x (u8 kind, u32 argument), payload
 * </pre>
 * The declared size goes into the header as is; the payload bytes that follow it need not match
 * it (the stream then desynchronises, as a hostile front-end's would). A descriptor is made fresh
 * for each message from its kind: an eventfd, a memfd of {@code argument} bytes (at most
 * {@value #MAX_MEMFD}), either end of a pipe, /dev/null or one end of a socketpair.
 */
record MessageScript(List<Step> steps) {
    static final int MAX_MESSAGES = 32, MAX_PAYLOAD = MessageType.MAX_PAYLOAD + 64, MAX_DESCRIPTORS = 9;
    static final int MAX_MEMFD = 16 << 20;

    enum Kind { EVENTFD, MEMFD, PIPE_READ, PIPE_WRITE, DEV_NULL, SOCKET }

    record Fd(Kind kind, int argument) {}

    record Step(int request, int flags, int declaredSize, byte[] payload, List<Fd> fds) {}

    /** Reads up to {@link #MAX_MESSAGES} steps; a truncated last step is kept as far as it goes. */
    static MessageScript decode(byte[] input) {
        ByteBuffer b = ByteBuffer.wrap(input).order(ByteOrder.LITTLE_ENDIAN);
        List<Step> steps = new ArrayList<>();
        while (steps.size() < MAX_MESSAGES && b.remaining() >= 15) {
            int request = b.getInt(), flags = b.getInt(), declared = b.getInt();
            int length = Math.min(Short.toUnsignedInt(b.getShort()), MAX_PAYLOAD);
            int count = Byte.toUnsignedInt(b.get()) % (MAX_DESCRIPTORS + 1);
            List<Fd> fds = new ArrayList<>();
            for (int i = 0; i < count && b.remaining() >= 5; i++) {
                fds.add(new Fd(Kind.values()[Byte.toUnsignedInt(b.get()) % Kind.values().length], b.getInt()));
            }
            byte[] payload = new byte[Math.min(length, b.remaining())];
            b.get(payload);
            steps.add(new Step(request, flags, declared, payload, fds));
        }
        return new MessageScript(steps);
    }

    byte[] encode() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Step s : steps) {
            ByteBuffer b = ByteBuffer.allocate(15 + 5 * s.fds().size() + s.payload().length).order(ByteOrder.LITTLE_ENDIAN);
            b.putInt(s.request()).putInt(s.flags()).putInt(s.declaredSize()).putShort((short) s.payload().length)
                    .put((byte) s.fds().size());
            for (Fd fd : s.fds()) {
                b.put((byte) fd.kind().ordinal()).putInt(fd.argument());
            }
            b.put(s.payload());
            out.writeBytes(b.array());
        }
        return out.toByteArray();
    }

    /**
     * Sends every step (stopping early when the back-end hung up), closing this side's copies of
     * the descriptors as it goes; returns how many steps went out.
     */
    int send(HandlerHarness h) throws IOException {
        int sent = 0;
        for (Step s : steps) {
            int[] fds = new int[s.fds().size()];
            List<AutoCloseable> keep = new ArrayList<>();
            try {
                for (int i = 0; i < fds.length; i++) {
                    fds[i] = open(s.fds().get(i), keep);
                }
                h.send(s.request(), s.flags(), s.declaredSize(), s.payload(), fds);
                sent++;
            } catch (NativeException e) {
                return sent; // the back-end dropped the connection: the rest cannot be delivered
            } finally {
                for (AutoCloseable c : keep) {
                    try {
                        c.close();
                    } catch (Exception ignored) {
                        // a test descriptor; the leak check counts what stays open
                    }
                }
            }
        }
        return sent;
    }

    /**
     * The request codes the back-end reads from the first {@code count} steps' bytes, in order:
     * where a declared size differs from the bytes that follow, framing continues inside the
     * payload (or the next step), as it does on the socket. Stops where the stream breaks.
     */
    List<Integer> framedRequests(int count) {
        ByteArrayOutputStream wire = new ByteArrayOutputStream();
        for (Step s : steps.subList(0, count)) {
            ByteBuffer header = ByteBuffer.allocate(MessageHeader.SIZE);
            new MessageHeader(s.request(), s.flags(), s.declaredSize()).encode(header);
            wire.writeBytes(header.array());
            wire.writeBytes(s.payload());
        }
        ByteBuffer b = ByteBuffer.wrap(wire.toByteArray()).order(ByteOrder.LITTLE_ENDIAN);
        List<Integer> codes = new ArrayList<>();
        int at = 0;
        while (at + MessageHeader.SIZE <= b.limit()) {
            MessageHeader h = MessageHeader.decode(b.slice(at, MessageHeader.SIZE));
            if (h.version() != MessageHeader.VERSION || h.size() < 0 || h.size() > MessageType.MAX_PAYLOAD) {
                break;
            }
            codes.add(h.request());
            at += MessageHeader.SIZE + h.size();
        }
        return codes;
    }

    /** Opens a descriptor of the kind; everything opened for it goes into {@code opened} for closing. */
    private static int open(Fd fd, List<AutoCloseable> opened) throws NativeException {
        switch (fd.kind()) {
            case EVENTFD -> {
                EventFd e = EventFd.create();
                opened.add(e);
                return e.fd();
            }
            case MEMFD -> {
                int m = MemFd.create("fuzz", Integer.toUnsignedLong(fd.argument()) % (MAX_MEMFD + 1));
                opened.add(() -> Fds.close(m));
                return m;
            }
            case PIPE_READ, PIPE_WRITE -> {
                int[] p = Fds.pipe();
                opened.add(() -> Fds.close(p[0]));
                opened.add(() -> Fds.close(p[1]));
                return fd.kind() == Kind.PIPE_READ ? p[0] : p[1];
            }
            case DEV_NULL -> {
                NativeFile f = NativeFile.open(Path.of("/dev/null"), true, false);
                opened.add(f);
                return f.fd();
            }
            case SOCKET -> {
                UnixSocket[] pair = UnixSocket.pair();
                opened.add(pair[0]);
                opened.add(pair[1]);
                return pair[0].fd();
            }
        }
        throw new AssertionError(fd.kind());
    }

    /** Builds scripts for the seed corpus. */
    static final class Builder {
        private final List<Step> steps = new ArrayList<>();

        Builder add(MessageType type, int flags, ByteBuffer payload, Fd... fds) {
            byte[] bytes = payload == null ? new byte[0] : HandlerHarness.bytesOf(payload);
            steps.add(new Step(type.code(), flags, bytes.length, bytes, List.of(fds)));
            return this;
        }

        MessageScript build() {
            return new MessageScript(List.copyOf(steps));
        }
    }
}
