package dev.vublk.block.storage.nbd;

import static dev.vublk.block.storage.nbd.NbdWire.U16;
import static dev.vublk.block.storage.nbd.NbdWire.U32;
import static dev.vublk.block.storage.nbd.NbdWire.U64;

import dev.vublk.block.ImageException;
import dev.vublk.uring.Errno;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;

/**
 * The volume's own blocking connection, opened first: it proves at start that the URI works and
 * serves the synchronous {@link NbdVolume#flush()} used at shutdown. A broken connection is opened
 * again once per call.
 */
final class NbdControl implements AutoCloseable {

    private final NbdUri uri;
    private final Duration timeout;
    private final NbdExport export;
    private NbdHandshake.Session session;

    NbdControl(NbdUri uri, Duration timeout) throws IOException {
        this.uri = uri;
        this.timeout = timeout;
        this.session = NbdHandshake.open(uri, timeout);
        this.export = session.export();
    }

    /** The export as the first connection saw it. */
    NbdExport export() {
        return export;
    }

    /** NBD_CMD_FLUSH, waiting for its reply; a connection found broken is opened again and tried once more. */
    synchronized void flush() throws IOException {
        if (session != null) {
            try {
                flushOnce();
                return;
            } catch (ImageException e) {
                throw e;
            } catch (IOException e) {
                drop();
            }
        }
        session = NbdHandshake.open(uri, timeout);
        flushOnce();
    }

    /** Forgets a broken connection: its descriptor number must never be used again. */
    private void drop() {
        session.socket().close();
        session = null;
    }

    private void flushOnce() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(ReplyReader.MAX_CHUNK_PAYLOAD, 8);
            NbdWire.request(buf, (short) 0, NbdWire.CMD_FLUSH, 0, 0, 0);
            session.socket().writeFully(buf, NbdWire.REQUEST_SIZE);
            int error = 0;
            while (true) {
                session.socket().readFully(buf, NbdWire.SIMPLE_REPLY_SIZE);
                int magic = buf.get(U32, 0);
                if (buf.get(U64, 8) != 0) {
                    throw violation("reply for handle " + Long.toUnsignedString(buf.get(U64, 8)) + " to a flush sent as 0");
                }
                if (magic == NbdWire.SIMPLE_REPLY_MAGIC) {
                    error = buf.get(U32, 4);
                    break;
                }
                if (magic != NbdWire.STRUCTURED_REPLY_MAGIC || !session.export().structured()) {
                    throw violation("bad reply magic 0x" + Integer.toHexString(magic));
                }
                int flags = buf.get(U16, 4) & 0xffff;
                int type = buf.get(U16, 6) & 0xffff;
                session.socket().readFully(buf.asSlice(16), 4);
                int length = buf.get(U32, 16);
                if ((type & NbdWire.CHUNK_ERROR_BIT) == 0 && type != NbdWire.CHUNK_NONE || length < 0
                        || length > ReplyReader.MAX_CHUNK_PAYLOAD || type == NbdWire.CHUNK_NONE && length != 0) {
                    throw violation("chunk type " + type + " of " + Integer.toUnsignedString(length) + " bytes to a flush");
                }
                session.socket().readFully(buf, length);
                if (type != NbdWire.CHUNK_NONE && error == 0) {
                    error = length >= 4 ? buf.get(U32, 0) : Errno.EIO;
                }
                if ((flags & NbdWire.REPLY_FLAG_DONE) != 0) {
                    break;
                }
            }
            if (error != 0) {
                // The server's answer, not a broken connection: another connection's flush must not hide it.
                throw new ImageException(uri.text(), "NBD flush on " + uri.describe() + " failed: " + Errno.name(NbdWire.errno(error)));
            }
        }
    }

    private IOException violation(String what) {
        drop();
        return new IOException("NBD server " + uri.describe() + " broke the protocol: " + what);
    }

    /** Says goodbye if the socket takes it at once, and closes. */
    @Override
    public synchronized void close() {
        if (session == null) {
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(NbdWire.REQUEST_SIZE, 8);
            NbdWire.request(buf, (short) 0, NbdWire.CMD_DISC, 0, 0, 0);
            session.socket().sendNow(buf, NbdWire.REQUEST_SIZE);
        }
        drop();
    }
}
