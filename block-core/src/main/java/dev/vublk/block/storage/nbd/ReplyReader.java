package dev.vublk.block.storage.nbd;

import static dev.vublk.block.storage.nbd.NbdWire.U16;
import static dev.vublk.block.storage.nbd.NbdWire.U32;
import static dev.vublk.block.storage.nbd.NbdWire.U64;

import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A connection's standing receive: takes from the socket whatever it holds into an inbox of its
 * own ({@link #INBOX} bytes), then parses every reply found there, so a burst of replies costs one
 * system call, not several per reply. Read data is copied from the inbox into the request's guest
 * memory; the part of a large read that has not arrived yet is received straight into guest
 * memory. Every field is checked before use: magic, handle (a request of ours awaiting a reply),
 * chunk type and length, chunk ranges inside the request, the data of a read adding up to its
 * length. A reply that breaks the protocol breaks the connection ({@link NbdConnection#fail}),
 * never anything else.
 */
final class ReplyReader implements IoCompletion {
    /** Room for an error chunk's payload: a 4096-byte message (the spec's limit) and its fields. */
    static final int MAX_CHUNK_PAYLOAD = NbdWire.MAX_STRING + 64;
    private static final int HEADER = 0, STRUCTURED_REST = 1, SIMPLE_DATA = 2, CHUNK_PAYLOAD = 3, CHUNK_DATA = 4;

    /** The inbox: room for a burst of small replies (a 4 KiB read's reply is about 4.1 KiB). */
    static final int INBOX = 256 << 10;
    /** Read data beyond this that is not in the inbox yet is received straight into guest memory. */
    private static final long DIRECT = INBOX / 2;
    private static final int RECEIVE = 0, RECEIVE_DIRECT = 1;

    private final NbdConnection conn;
    private final MemorySegment inbox;
    /** The unparsed bytes of the inbox: {@code [inStart, inEnd)}. */
    private int inStart, inEnd;
    private final MemorySegment head;
    private final MemorySegment payload;
    private final IoVecArray target;
    private int state;
    /** What the parser waits for: {@code expected} bytes into {@code want} at {@code wantAt}, or into the command's data. */
    private long expected;
    private MemorySegment want;
    private long wantAt;
    private boolean wantData;
    /** Of a data step: where in the command's data it starts, how much of it has arrived. */
    private long dataFrom, dataGot;
    /** Whether {@link #run} is on the stack: a step asked for from inside it runs in its loop, not deeper. */
    private boolean running, stepAsked;
    private NbdCommand cmd;
    private int chunkFlags, chunkType, chunkLength;

    ReplyReader(NbdConnection conn, Arena arena) {
        this.conn = conn;
        this.inbox = arena.allocate(INBOX, 8);
        this.head = arena.allocate(NbdWire.STRUCTURED_REPLY_SIZE, 8);
        this.payload = arena.allocate(MAX_CHUNK_PAYLOAD, 8);
        this.target = new IoVecArray(arena, IoVecArray.IOV_MAX);
    }

    /** The simple reply's size first: a structured header is longer and says so by its magic. */
    void receiveHeader() {
        cmd = null;
        receive(HEADER, head, 0, NbdWire.SIMPLE_REPLY_SIZE);
    }

    /** Parses {@code length} bytes into {@code buf} at {@code at} next, then goes on in state {@code next}. */
    private void receive(int next, MemorySegment buf, long at, int length) {
        state = next;
        expected = length;
        want = buf;
        wantAt = at;
        wantData = false;
        run();
    }

    /** Reads {@code length} bytes of the command's data, from {@code from} bytes into it, to guest memory. */
    private void receiveData(int next, long from, long length) {
        state = next;
        expected = length;
        wantData = true;
        dataFrom = from;
        dataGot = 0;
        run();
    }

    /**
     * Takes steps while the inbox holds what the parser waits for; a step asked for by a step
     * (the next header after a reply) runs in this loop, so a full inbox never deepens the stack.
     */
    private void run() {
        if (running) {
            stepAsked = true;
            return;
        }
        running = true;
        try {
            do {
                stepAsked = false;
                if (conn.broken()) {
                    conn.maybeClosed();
                    return;
                }
                step();
            } while (stepAsked);
        } finally {
            running = false;
        }
    }

    /** Serves the wait from the inbox and parses on, or puts a receive on the ring. */
    private void step() {
        int available = inEnd - inStart;
        if (wantData) {
            long n = Math.min(available, expected - dataGot);
            if (n > 0) {
                cmd.data.copyFrom(inbox, inStart, dataFrom + dataGot, n);
                inStart += (int) n;
                dataGot += n;
            }
            if (dataGot == expected) {
                parsed();
            } else if (expected - dataGot > DIRECT) {
                target.setSlice(cmd.data, dataFrom + dataGot, expected - dataGot);
                submit(RECEIVE_DIRECT);
            } else {
                submit(RECEIVE);
            }
        } else if (available >= expected) {
            MemorySegment.copy(inbox, inStart, want, wantAt, expected);
            inStart += (int) expected;
            parsed();
        } else {
            submit(RECEIVE);
        }
    }

    private void submit(int kind) {
        try {
            if (kind == RECEIVE_DIRECT) {
                conn.ring.readv(conn.socket.fd(), target, 0, this, RECEIVE_DIRECT);
            } else {
                if (inStart == inEnd) {
                    inStart = inEnd = 0;
                } else if (inStart > 0) { // what is left of a reply moves to the front, making room behind it
                    MemorySegment.copy(inbox, inStart, inbox, 0, inEnd - inStart);
                    inEnd -= inStart;
                    inStart = 0;
                }
                conn.ring.receive(conn.socket.fd(), inbox.address() + inEnd, INBOX - inEnd, this, RECEIVE);
            }
            conn.receiveStarted();
        } catch (NativeException e) {
            conn.fail("cannot submit a receive: " + e.getMessage());
        }
    }

    @Override
    public void complete(long tag, int res) {
        conn.receiveEnded();
        if (conn.broken()) {
            conn.maybeClosed();
            return;
        }
        if (res <= 0 || tag == RECEIVE_DIRECT && res != expected - dataGot) {
            boolean between = state == HEADER && inStart == inEnd && !wantData;
            conn.fail(res < 0 ? "receive failed: " + Errno.name(res)
                    : between ? "the server closed the connection" : "the server closed the connection mid-reply");
            return;
        }
        if (tag == RECEIVE_DIRECT) {
            dataGot = expected;
        } else {
            inEnd += res;
        }
        run();
    }

    /** What the parser waited for is in place: on to the state's next step. */
    private void parsed() {
        switch (state) {
            case HEADER -> header();
            case STRUCTURED_REST -> chunkHeader();
            case SIMPLE_DATA -> done(0);
            case CHUNK_PAYLOAD -> chunkPayload();
            default -> chunkEnd();
        }
    }

    private void header() {
        int magic = head.get(U32, 0);
        if (magic == NbdWire.STRUCTURED_REPLY_MAGIC && conn.export.structured()) {
            receive(STRUCTURED_REST, head, NbdWire.SIMPLE_REPLY_SIZE, NbdWire.STRUCTURED_REPLY_SIZE - NbdWire.SIMPLE_REPLY_SIZE);
            return;
        }
        if (magic != NbdWire.SIMPLE_REPLY_MAGIC) {
            violation("bad reply magic 0x" + Integer.toHexString(magic));
            return;
        }
        int error = head.get(U32, 4);
        if (!find(head.get(U64, 8))) {
            return;
        }
        if (error != 0) {
            done(NbdWire.errno(error)); // no payload follows an error in a simple reply
        } else if (cmd.type != NbdWire.CMD_READ) {
            done(0);
        } else if (conn.export.structured()) {
            violation("a simple reply carrying read data after structured replies were agreed");
        } else {
            cmd.covered = cmd.length;
            receiveData(SIMPLE_DATA, 0, cmd.length);
        }
    }

    private boolean find(long handle) {
        cmd = conn.owner.awaiting(handle);
        if (cmd == null) {
            violation("reply for handle " + Long.toUnsignedString(handle) + ", which names no request in flight");
            return false;
        }
        return true;
    }

    private void chunkHeader() {
        chunkFlags = head.get(U16, 4) & 0xffff;
        chunkType = head.get(U16, 6) & 0xffff;
        chunkLength = head.get(U32, 16);
        if (!find(head.get(U64, 8))) {
            return;
        }
        boolean read = cmd.type == NbdWire.CMD_READ;
        switch (chunkType) {
            case NbdWire.CHUNK_NONE -> {
                if (chunkLength != 0 || (chunkFlags & NbdWire.REPLY_FLAG_DONE) == 0) {
                    violation("NONE chunk of " + Integer.toUnsignedString(chunkLength) + " bytes, flags " + chunkFlags);
                } else {
                    chunkEnd();
                }
            }
            case NbdWire.CHUNK_OFFSET_DATA -> {
                if (!read || chunkLength <= 8 || chunkLength - 8 > cmd.length) {
                    violation("OFFSET_DATA chunk of " + Integer.toUnsignedString(chunkLength) + " bytes for a "
                            + cmd.length + "-byte " + (read ? "read" : "command that reads nothing"));
                } else {
                    receive(CHUNK_PAYLOAD, payload, 0, 8);
                }
            }
            case NbdWire.CHUNK_OFFSET_HOLE -> {
                if (!read || chunkLength != 12) {
                    violation("OFFSET_HOLE chunk of " + Integer.toUnsignedString(chunkLength) + " bytes");
                } else {
                    receive(CHUNK_PAYLOAD, payload, 0, 12);
                }
            }
            default -> {
                if ((chunkType & NbdWire.CHUNK_ERROR_BIT) == 0) {
                    violation("unknown reply chunk type " + chunkType);
                } else if (chunkLength < 6 || chunkLength > MAX_CHUNK_PAYLOAD) {
                    violation("error chunk of " + Integer.toUnsignedString(chunkLength) + " bytes");
                } else {
                    receive(CHUNK_PAYLOAD, payload, 0, chunkLength);
                }
            }
        }
    }

    private void chunkPayload() {
        switch (chunkType) {
            case NbdWire.CHUNK_OFFSET_DATA -> {
                long at = payload.get(U64, 0);
                long length = chunkLength - 8L;
                if (inRange(at, length)) {
                    cmd.covered += length;
                    receiveData(CHUNK_DATA, at - cmd.offset, length);
                }
            }
            case NbdWire.CHUNK_OFFSET_HOLE -> {
                long at = payload.get(U64, 0);
                long length = payload.get(U32, 8) & 0xffffffffL;
                if (length > 0 && inRange(at, length)) {
                    cmd.covered += length;
                    cmd.data.zero(at - cmd.offset, length);
                    chunkEnd();
                }
            }
            default -> errorChunk();
        }
    }

    /** Whether {@code [at, at + length)} lies inside the request; a violation otherwise. */
    private boolean inRange(long at, long length) {
        if (at < cmd.offset || at - cmd.offset > cmd.length - length) {
            violation("chunk of " + length + " bytes at " + Long.toUnsignedString(at) + " outside the request of "
                    + cmd.length + " bytes at " + cmd.offset);
            return false;
        }
        return true;
    }

    private void errorChunk() {
        int error = payload.get(U32, 0);
        int messageLength = payload.get(U16, 4) & 0xffff;
        int fixed = chunkType == NbdWire.CHUNK_ERROR_OFFSET ? 6 + 8 : 6;
        boolean known = chunkType == NbdWire.CHUNK_ERROR || chunkType == NbdWire.CHUNK_ERROR_OFFSET;
        if (known ? messageLength + fixed != chunkLength : messageLength + 6 > chunkLength) {
            violation("error chunk of " + chunkLength + " bytes with a " + messageLength + "-byte message");
            return;
        }
        if (error == 0) {
            violation("error chunk without an error");
            return;
        }
        if (cmd.error == 0) {
            cmd.error = NbdWire.errno(error);
        }
        chunkEnd();
    }

    /** After a chunk: the next header, the command's reply complete first if this chunk was the last. */
    private void chunkEnd() {
        if ((chunkFlags & NbdWire.REPLY_FLAG_DONE) == 0) {
            receiveHeader();
            return;
        }
        if (cmd.error == 0 && cmd.type == NbdWire.CMD_READ && cmd.covered != cmd.length) {
            violation("read reply covered " + cmd.covered + " of " + cmd.length + " bytes");
            return;
        }
        done(cmd.error);
    }

    private void done(int result) {
        NbdCommand c = cmd;
        receiveHeader();
        conn.replyComplete(c, result);
    }

    private void violation(String what) {
        conn.violation(what);
    }
}
