package dev.vublk.block.storage.nbd;

import static dev.vublk.block.storage.nbd.NbdWire.U16;
import static dev.vublk.block.storage.nbd.NbdWire.U32;
import static dev.vublk.block.storage.nbd.NbdWire.U64;

import dev.vublk.block.ImageException;
import dev.vublk.uring.StreamSocket;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * Opens one connection to an export: connect, then the fixed-newstyle handshake, blocking and
 * bounded by the socket timeout. Asks for structured replies, then NBD_OPT_GO with the block size
 * info (which promises the server we honour its block sizes). Every length and magic the server
 * sends is checked and every payload bounded before it is read.
 */
final class NbdHandshake {
    /** The most an option reply may carry: far above any info or error message the spec defines. */
    static final int MAX_OPTION_REPLY = 64 << 10;

    /** A handshaken connection, ready for transmission. */
    record Session(StreamSocket socket, NbdExport export) {}

    private final NbdUri uri;
    private final StreamSocket socket;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment buf = arena.allocate(MAX_OPTION_REPLY + 64, 8);

    private NbdHandshake(NbdUri uri, StreamSocket socket) {
        this.uri = uri;
        this.socket = socket;
    }

    /** Connects to {@code uri} and negotiates its export; every blocking step is bounded by {@code timeout}. */
    static Session open(NbdUri uri, Duration timeout) throws IOException {
        StreamSocket socket;
        try {
            socket = uri.socket() != null
                    ? StreamSocket.connect(uri.socket(), timeout)
                    : StreamSocket.connect(InetAddress.getByName(uri.host()), uri.port(), timeout);
        } catch (IOException e) {
            throw new ImageException(uri.text(), "cannot connect to NBD server at " + uri.describe() + ": " + e.getMessage(), e);
        }
        NbdHandshake h = new NbdHandshake(uri, socket);
        try {
            return new Session(socket, h.negotiate());
        } catch (ImageException | RuntimeException e) {
            socket.close();
            throw e;
        } catch (IOException e) {
            socket.close();
            throw h.fail(e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage());
        } finally {
            h.arena.close();
        }
    }

    private NbdExport negotiate() throws IOException {
        read(18);
        if (buf.get(U64, 0) != NbdWire.NBDMAGIC) {
            throw fail("not an NBD server (bad greeting magic)");
        }
        if (buf.get(U64, 8) != NbdWire.IHAVEOPT) {
            throw fail("the server speaks the oldstyle handshake, which has no export names; only fixed newstyle is supported");
        }
        int serverFlags = buf.get(U16, 16) & 0xffff;
        if ((serverFlags & NbdWire.HANDSHAKE_FIXED_NEWSTYLE) == 0) {
            throw fail("the server does not offer fixed newstyle negotiation");
        }
        buf.set(U32, 0, NbdWire.HANDSHAKE_FIXED_NEWSTYLE | (serverFlags & NbdWire.HANDSHAKE_NO_ZEROES));
        write(4);
        boolean structured = structuredReplies();
        return go(structured);
    }

    /** NBD_OPT_STRUCTURED_REPLY: an ACK turns them on; a refusal of any kind leaves simple replies. */
    private boolean structuredReplies() throws IOException {
        sendOption(NbdWire.OPT_STRUCTURED_REPLY, 0);
        int type = readOptionReply(NbdWire.OPT_STRUCTURED_REPLY);
        if (type == NbdWire.REP_ACK) {
            return true;
        }
        if ((type & NbdWire.REP_FLAG_ERROR) == 0) {
            throw fail("unexpected " + NbdWire.optionReplyName(type) + " to NBD_OPT_STRUCTURED_REPLY");
        }
        return false;
    }

    private NbdExport go(boolean structured) throws IOException {
        byte[] name = uri.export().getBytes(StandardCharsets.UTF_8);
        int length = 4 + name.length + 2 + 2;
        buf.set(U32, 16, name.length);
        MemorySegment.copy(name, 0, buf, ValueLayout.JAVA_BYTE, 20, name.length);
        buf.set(U16, 20 + name.length, (short) 1);
        buf.set(U16, 22 + name.length, (short) NbdWire.INFO_BLOCK_SIZE);
        sendOption(NbdWire.OPT_GO, length);
        long size = 0;
        int flags = 0;
        boolean described = false;
        int min = 1, preferred = 4096, max = NbdExport.DEFAULT_MAX_BLOCK;
        while (true) {
            int type = readOptionReply(NbdWire.OPT_GO);
            int len = lastLength;
            if (type == NbdWire.REP_ACK) {
                break;
            }
            if (type != NbdWire.REP_INFO) {
                throw (type & NbdWire.REP_FLAG_ERROR) != 0 ? refused(type, len)
                        : fail("unexpected " + NbdWire.optionReplyName(type) + " to NBD_OPT_GO");
            }
            if (len < 2) {
                throw fail("NBD_REP_INFO of " + len + " bytes");
            }
            int info = buf.get(U16, 0) & 0xffff;
            if (info == NbdWire.INFO_EXPORT) {
                expectLength("NBD_INFO_EXPORT", len, 12);
                described = true;
                size = buf.get(U64, 2);
                flags = buf.get(U16, 10) & 0xffff;
            } else if (info == NbdWire.INFO_BLOCK_SIZE) {
                expectLength("NBD_INFO_BLOCK_SIZE", len, 14);
                min = buf.get(U32, 2);
                preferred = buf.get(U32, 6);
                max = buf.get(U32, 10);
            } // other infos (name, description) are for people, not for us
        }
        if (!described) {
            throw fail("NBD_OPT_GO ended without NBD_INFO_EXPORT");
        }
        if (size < 0) {
            throw fail("export size " + Long.toUnsignedString(size) + " out of range");
        }
        if ((flags & NbdWire.FLAG_HAS_FLAGS) == 0) {
            throw fail("transmission flags 0x" + Integer.toHexString(flags) + " lack NBD_FLAG_HAS_FLAGS");
        }
        checkBlockSizes(min, preferred, max);
        // 0xffffffff (no limit) and anything beyond an int: the payload limit is ours then.
        int maxBlock = (int) Math.min(Integer.toUnsignedLong(max), Integer.MAX_VALUE);
        return new NbdExport(size, flags, min, preferred, maxBlock, structured);
    }

    /** The spec's constraints: min a power of two up to 64 KiB, preferred a power of two ≥ min, max ≥ preferred. */
    private void checkBlockSizes(int min, int preferred, int max) throws ImageException {
        boolean ok = min >= 1 && min <= (64 << 10) && Integer.bitCount(min) == 1
                && Integer.bitCount(preferred) == 1 && preferred >= min && preferred <= (32 << 20)
                && Integer.compareUnsigned(max, preferred) >= 0;
        if (!ok) {
            throw fail("block sizes min " + Integer.toUnsignedString(min) + ", preferred " + Integer.toUnsignedString(preferred)
                    + ", max " + Integer.toUnsignedString(max) + " break the protocol's constraints");
        }
    }

    private void expectLength(String what, int len, int expected) throws ImageException {
        if (len != expected) {
            throw fail(what + " of " + len + " bytes, not " + expected);
        }
    }

    /** Sends an option whose {@code length} bytes of data the caller put at offset 16 of the buffer. */
    private void sendOption(int option, int length) throws IOException {
        buf.set(U64, 0, NbdWire.IHAVEOPT);
        buf.set(U32, 8, option);
        buf.set(U32, 12, length);
        write(16 + length);
    }

    private int lastLength;

    /** Reads one option reply to {@code option}; its payload lands at offset 0 of the buffer. */
    private int readOptionReply(int option) throws IOException {
        read(20);
        if (buf.get(U64, 0) != NbdWire.OPTION_REPLY_MAGIC) {
            throw fail("bad option reply magic 0x" + Long.toHexString(buf.get(U64, 0)));
        }
        int replyTo = buf.get(U32, 8);
        int type = buf.get(U32, 12);
        int length = buf.get(U32, 16);
        if (replyTo != option) {
            throw fail("reply to option " + Integer.toUnsignedString(replyTo) + " while waiting for option " + option);
        }
        if (length < 0 || length > MAX_OPTION_REPLY) {
            throw fail("option reply of " + Integer.toUnsignedString(length) + " bytes (at most " + MAX_OPTION_REPLY + ")");
        }
        read(length);
        lastLength = length;
        return type;
    }

    /** An error reply: its payload is the server's message, which the exception carries. */
    private ImageException refused(int type, int length) {
        String message = new String(buf.asSlice(0, length).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8).strip();
        return fail("the server refused the export: " + NbdWire.optionReplyName(type) + (message.isEmpty() ? "" : ": " + message));
    }

    private void read(int length) throws IOException {
        socket.readFully(buf, length);
    }

    private void write(int length) throws IOException {
        socket.writeFully(buf, length);
    }

    private ImageException fail(String reason) {
        return new ImageException(uri.text(), "NBD handshake with " + uri.describe() + ": " + reason);
    }
}
