package dev.vublk.block.storage.nbd;

import dev.vublk.uring.Errno;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Numbers of the NBD protocol (doc/proto.md of the NBD project) that this client uses. */
final class NbdWire {
    static final long NBDMAGIC = 0x4e42444d41474943L, IHAVEOPT = 0x49484156454f5054L, OPTION_REPLY_MAGIC = 0x3e889045565a9L;
    static final int HANDSHAKE_FIXED_NEWSTYLE = 1, HANDSHAKE_NO_ZEROES = 2;

    static final int OPT_ABORT = 2, OPT_GO = 7, OPT_STRUCTURED_REPLY = 8;
    static final int REP_ACK = 1, REP_INFO = 3, REP_FLAG_ERROR = 1 << 31;
    static final int INFO_EXPORT = 0, INFO_BLOCK_SIZE = 3;

    static final int FLAG_HAS_FLAGS = 1, FLAG_READ_ONLY = 1 << 1, FLAG_SEND_FLUSH = 1 << 2, FLAG_SEND_TRIM = 1 << 5,
            FLAG_SEND_WRITE_ZEROES = 1 << 6, FLAG_CAN_MULTI_CONN = 1 << 8;

    static final int REQUEST_MAGIC = 0x25609513, SIMPLE_REPLY_MAGIC = 0x67446698, STRUCTURED_REPLY_MAGIC = 0x668e33ef;
    static final int REQUEST_SIZE = 28, SIMPLE_REPLY_SIZE = 16, STRUCTURED_REPLY_SIZE = 20;
    static final short CMD_READ = 0, CMD_WRITE = 1, CMD_DISC = 2, CMD_FLUSH = 3, CMD_WRITE_ZEROES = 6;
    static final short CMD_FLAG_NO_HOLE = 2;

    static final int REPLY_FLAG_DONE = 1;
    static final int CHUNK_NONE = 0, CHUNK_OFFSET_DATA = 1, CHUNK_OFFSET_HOLE = 2, CHUNK_ERROR_BIT = 1 << 15,
            CHUNK_ERROR = CHUNK_ERROR_BIT + 1, CHUNK_ERROR_OFFSET = CHUNK_ERROR_BIT + 2;

    /** Every number on the wire is big-endian, and the protocol's fields are not aligned. */
    static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    /** The spec's limit on an export name and on an error message. */
    static final int MAX_STRING = 4096;

    private NbdWire() {}

    /** Writes a request header ({@link #REQUEST_SIZE} bytes) at the start of {@code buf}. */
    static void request(MemorySegment buf, short flags, short type, long handle, long offset, int length) {
        buf.set(U32, 0, REQUEST_MAGIC);
        buf.set(U16, 4, flags);
        buf.set(U16, 6, type);
        buf.set(U64, 8, handle);
        buf.set(U64, 16, offset);
        buf.set(U32, 24, length);
    }

    /**
     * A server's error as a negative errno: the protocol's values are Linux's for the errors it
     * names; anything else (or 0 where an error was due) is EIO.
     */
    static int errno(int nbdError) {
        return switch (nbdError) {
            case Errno.EPERM, Errno.EIO, Errno.ENOMEM, Errno.EINVAL, Errno.ENOSPC, Errno.EOVERFLOW, Errno.ENOTSUP -> -nbdError;
            default -> -Errno.EIO;
        };
    }

    static String optionReplyName(int type) {
        return switch (type) {
            case REP_FLAG_ERROR + 1 -> "NBD_REP_ERR_UNSUP";
            case REP_FLAG_ERROR + 2 -> "NBD_REP_ERR_POLICY";
            case REP_FLAG_ERROR + 3 -> "NBD_REP_ERR_INVALID";
            case REP_FLAG_ERROR + 4 -> "NBD_REP_ERR_PLATFORM";
            case REP_FLAG_ERROR + 5 -> "NBD_REP_ERR_TLS_REQD";
            case REP_FLAG_ERROR + 6 -> "NBD_REP_ERR_UNKNOWN (no such export)";
            case REP_FLAG_ERROR + 7 -> "NBD_REP_ERR_SHUTDOWN";
            case REP_FLAG_ERROR + 8 -> "NBD_REP_ERR_BLOCK_SIZE_REQD";
            case REP_FLAG_ERROR + 9 -> "NBD_REP_ERR_TOO_BIG";
            default -> "option reply " + Integer.toUnsignedString(type);
        };
    }
}
