package dev.vublk.block.storage.nbd;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A tiny NBD server on a Unix socket that answers its first READ with a lie of the chosen kind,
 * then behaves (also on the connections that follow). Reads return {@link #byteAt}; writes are
 * taken and forgotten.
 */
final class LyingNbdServer implements AutoCloseable {
    enum Lie {
        BAD_MAGIC, UNKNOWN_HANDLE, OVERSIZED_CHUNK, CHUNK_OUTSIDE_REQUEST, SHORT_READ, UNKNOWN_CHUNK_TYPE,
        /** Not a lie: hangs up on every READ, as a server that crashes on one request would. */
        HANG_UP_ON_EVERY_READ,
        /** Not a lie either: never answers a READ, as a stuck server would. */
        NEVER_ANSWER_READS
    }

    static final long SIZE = 1 << 20;
    private final ServerSocketChannel listener;
    private final Lie lie;
    private final boolean structured;
    private final AtomicBoolean lied = new AtomicBoolean();
    private final List<SocketChannel> clients = new CopyOnWriteArrayList<>();
    final Path socket;

    LyingNbdServer(Path socket, Lie lie, boolean structured) throws IOException {
        this.socket = socket;
        this.lie = lie;
        this.structured = structured;
        Files.deleteIfExists(socket);
        listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        listener.bind(UnixDomainSocketAddress.of(socket));
        Thread.ofPlatform().daemon().start(this::accept);
    }

    String uri() {
        return "nbd+unix:///?socket=" + socket;
    }

    boolean lied() {
        return lied.get();
    }

    static byte byteAt(long offset) {
        return (byte) (offset * 7 + 3);
    }

    private void accept() {
        try {
            while (true) {
                SocketChannel c = listener.accept();
                clients.add(c);
                Thread.ofPlatform().daemon().start(() -> serve(c));
            }
        } catch (IOException e) {
            // closed
        }
    }

    private void serve(SocketChannel c) {
        try (c; DataInputStream in = new DataInputStream(Channels.newInputStream(c));
             DataOutputStream out = new DataOutputStream(Channels.newOutputStream(c))) {
            handshake(in, out);
            while (true) {
                if (in.readInt() != NbdWire.REQUEST_MAGIC) {
                    return;
                }
                in.readShort();
                int type = in.readShort();
                long handle = in.readLong();
                long offset = in.readLong();
                int length = in.readInt();
                if (type == NbdWire.CMD_DISC) {
                    return;
                }
                if (type == NbdWire.CMD_WRITE) {
                    in.readNBytes(length);
                }
                if (type == NbdWire.CMD_READ && lie == Lie.HANG_UP_ON_EVERY_READ) {
                    lied.set(true);
                    return;
                }
                if (type == NbdWire.CMD_READ && lie == Lie.NEVER_ANSWER_READS) {
                    lied.set(true);
                    continue;
                }
                if (type == NbdWire.CMD_READ && !lied.getAndSet(true)) {
                    lie(out, handle, offset, length);
                } else {
                    reply(out, type, handle, offset, length);
                }
                out.flush();
            }
        } catch (IOException e) {
            // the client went away
        }
    }

    private void handshake(DataInputStream in, DataOutputStream out) throws IOException {
        out.writeLong(NbdWire.NBDMAGIC);
        out.writeLong(NbdWire.IHAVEOPT);
        out.writeShort(NbdWire.HANDSHAKE_FIXED_NEWSTYLE | NbdWire.HANDSHAKE_NO_ZEROES);
        out.flush();
        in.readInt();
        while (true) {
            in.readLong();
            int option = in.readInt();
            in.readNBytes(in.readInt());
            if (option == NbdWire.OPT_STRUCTURED_REPLY) {
                optionReply(out, option, structured ? NbdWire.REP_ACK : NbdWire.REP_FLAG_ERROR + 1, new byte[0]);
            } else if (option == NbdWire.OPT_GO) {
                java.nio.ByteBuffer info = java.nio.ByteBuffer.allocate(12);
                info.putShort((short) NbdWire.INFO_EXPORT).putLong(SIZE).putShort((short) (NbdWire.FLAG_HAS_FLAGS | NbdWire.FLAG_SEND_FLUSH));
                optionReply(out, option, NbdWire.REP_INFO, info.array());
                optionReply(out, option, NbdWire.REP_ACK, new byte[0]);
                return;
            } else {
                optionReply(out, option, NbdWire.REP_FLAG_ERROR + 1, new byte[0]);
            }
        }
    }

    private static void optionReply(DataOutputStream out, int option, int type, byte[] data) throws IOException {
        out.writeLong(NbdWire.OPTION_REPLY_MAGIC);
        out.writeInt(option);
        out.writeInt(type);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    private byte[] data(long offset, int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = byteAt(offset + i);
        }
        return b;
    }

    private void reply(DataOutputStream out, int type, long handle, long offset, int length) throws IOException {
        if (!structured) {
            out.writeInt(NbdWire.SIMPLE_REPLY_MAGIC);
            out.writeInt(0);
            out.writeLong(handle);
            if (type == NbdWire.CMD_READ) {
                out.write(data(offset, length));
            }
        } else if (type == NbdWire.CMD_READ) {
            chunk(out, NbdWire.REPLY_FLAG_DONE, NbdWire.CHUNK_OFFSET_DATA, handle, offset, data(offset, length));
        } else {
            chunkHeader(out, NbdWire.REPLY_FLAG_DONE, NbdWire.CHUNK_NONE, handle, 0);
        }
    }

    private static void chunkHeader(DataOutputStream out, int flags, int type, long handle, int length) throws IOException {
        out.writeInt(NbdWire.STRUCTURED_REPLY_MAGIC);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(handle);
        out.writeInt(length);
    }

    private static void chunk(DataOutputStream out, int flags, int type, long handle, long offset, byte[] data) throws IOException {
        chunkHeader(out, flags, type, handle, 8 + data.length);
        out.writeLong(offset);
        out.write(data);
    }

    private void lie(DataOutputStream out, long handle, long offset, int length) throws IOException {
        switch (lie) {
            case BAD_MAGIC -> {
                out.writeInt(0x12345678);
                out.writeInt(0);
                out.writeLong(handle);
            }
            case UNKNOWN_HANDLE -> {
                out.writeInt(NbdWire.SIMPLE_REPLY_MAGIC);
                out.writeInt(0);
                out.writeLong(handle + 1000);
            }
            case OVERSIZED_CHUNK -> chunk(out, NbdWire.REPLY_FLAG_DONE, NbdWire.CHUNK_OFFSET_DATA, handle, offset,
                    data(offset, length + 4096));
            case CHUNK_OUTSIDE_REQUEST -> chunk(out, NbdWire.REPLY_FLAG_DONE, NbdWire.CHUNK_OFFSET_DATA, handle, offset + 512,
                    data(offset + 512, length));
            case SHORT_READ -> chunk(out, NbdWire.REPLY_FLAG_DONE, NbdWire.CHUNK_OFFSET_DATA, handle, offset,
                    data(offset, length / 2));
            case UNKNOWN_CHUNK_TYPE -> chunkHeader(out, NbdWire.REPLY_FLAG_DONE, 77, handle, 0);
            case HANG_UP_ON_EVERY_READ, NEVER_ANSWER_READS -> throw new IllegalStateException("handled in serve");
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        for (SocketChannel c : clients) {
            c.close();
        }
        Files.deleteIfExists(socket);
    }
}
