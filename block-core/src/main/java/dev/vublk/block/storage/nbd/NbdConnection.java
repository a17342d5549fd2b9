package dev.vublk.block.storage.nbd;

import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.StreamSocket;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;

/**
 * One handshaken socket on a queue's ring: sends commands one after the other (a stream socket
 * must not interleave two requests' bytes), header and guest data in one WRITEV, and keeps one
 * receive standing through its {@link ReplyReader}. Whatever goes wrong (an I/O error, end of
 * stream, a reply that breaks the protocol) breaks the connection: the socket is shut down, and
 * once every operation on it has completed it is closed and the owner told, which sends the
 * commands that were in flight again on a new connection (or, after a protocol violation, fails
 * them: what that server did with them is unknown).
 */
final class NbdConnection implements IoCompletion {
    /** What the connection needs from its queue. */
    interface Owner {
        /** The command awaiting a reply under {@code handle}, or null: the server named no request of ours. */
        NbdCommand awaiting(long handle);

        /** A command's reply is complete (and its send too): {@code result} is 0 or a negative errno. */
        void replied(NbdCommand c, int result);

        /**
         * The connection is over and its socket closed; {@code reason} is null after {@link #end}.
         * After a protocol violation ({@code violated}) no reply on it can be trusted.
         */
        void closed(NbdConnection c, String reason, boolean violated);
    }


    final IoUring ring;
    final StreamSocket socket;
    final NbdExport export;
    final Owner owner;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment header = arena.allocate(NbdWire.REQUEST_SIZE, 8);
    private final IoVecArray wire = new IoVecArray(arena, IoVecArray.IOV_MAX);
    private final ArrayDeque<NbdCommand> outbox = new ArrayDeque<>();
    private final ReplyReader reader;
    private NbdCommand sendingCmd;
    private boolean dataStep;
    private long sendBytes;
    private int ringOps;
    private boolean broken, ending, closed, violated;
    private String reason;

    NbdConnection(IoUring ring, NbdHandshake.Session session, Owner owner) {
        this.ring = ring;
        this.socket = session.socket();
        this.export = session.export();
        this.owner = owner;
        this.reader = new ReplyReader(this, arena);
    }

    /** Puts the standing receive on the ring. */
    void start() {
        reader.receiveHeader();
    }

    boolean usable() {
        return !broken && !ending;
    }

    /** Queues a command for sending; it completes through {@link Owner#replied}, or comes back after {@link Owner#closed}. */
    void send(NbdCommand c) {
        outbox.add(c);
        pump();
    }

    private void pump() {
        if (sendingCmd != null || !usable() || outbox.isEmpty()) {
            return;
        }
        NbdCommand c = outbox.poll();
        NbdWire.request(header, c.flags, c.type, c.handle, c.offset, c.length);
        wire.clear();
        wire.add(header.address(), NbdWire.REQUEST_SIZE);
        boolean payload = c.type == NbdWire.CMD_WRITE;
        // A payload with as many pieces as the kernel takes in one call goes in a second call.
        dataStep = payload && c.data.count() >= IoVecArray.IOV_MAX;
        if (payload && !dataStep) {
            for (int i = 0; i < c.data.count(); i++) {
                wire.add(c.data.address(i), c.data.length(i));
            }
        }
        sendingCmd = c;
        c.sending = true;
        submitSend();
    }

    private void submitSend() {
        sendBytes = wire.totalBytes();
        try {
            ring.writev(socket.fd(), wire, 0, this, 0);
            ringOps++;
        } catch (NativeException e) {
            sendingCmd.sending = false;
            sendingCmd = null;
            fail("cannot submit a send: " + e.getMessage());
        }
    }

    /** A send finished. */
    @Override
    public void complete(long tag, int res) {
        ringOps--;
        NbdCommand c = sendingCmd;
        if (res != sendBytes) {
            sendingCmd = null;
            c.sending = false;
            if (c.replied) {
                owner.replied(c, c.result); // the server answered it all the same
            }
            fail(res < 0 ? "send failed: " + Errno.name(res) : "the server stopped taking data");
            return;
        }
        if (dataStep && usable()) {
            dataStep = false;
            wire.setSlice(c.data, 0, c.data.totalBytes());
            submitSend();
            return;
        }
        sendingCmd = null;
        c.sending = false;
        if (c.replied) {
            owner.replied(c, c.result);
        }
        if (broken || ending) {
            maybeClosed();
        } else {
            pump();
        }
    }

    /** The reader's word that {@code c}'s reply is complete. */
    void replyComplete(NbdCommand c, int result) {
        if (c.sending) {
            c.replied = true;
            c.result = result;
        } else {
            owner.replied(c, result);
        }
    }

    /** The reader submitted or finished a receive. */
    void receiveStarted() {
        ringOps++;
    }

    void receiveEnded() {
        ringOps--;
    }

    boolean broken() {
        return broken || ending;
    }

    /** Breaks the connection for {@code why}: the server went away, or I/O on it failed. */
    void fail(String why) {
        if (!broken && !ending) {
            broken = true;
            reason = why;
            socket.shutdown();
        }
        maybeClosed();
    }

    /**
     * Breaks the connection for a reply that broke the protocol: the commands in flight on it
     * fail, since whatever the server did for them is unknown.
     */
    void violation(String why) {
        if (!broken && !ending) {
            violated = true;
        }
        fail("protocol violation: " + why);
    }

    /**
     * The queue is stopping and has nothing in flight here: tell the server goodbye (only if the
     * socket takes it at once) and shut the socket, which ends the standing receive.
     */
    void end() {
        if (broken || ending) {
            return;
        }
        ending = true;
        NbdWire.request(header, (short) 0, NbdWire.CMD_DISC, 0, 0, 0);
        if (sendingCmd == null) {
            socket.sendNow(header, NbdWire.REQUEST_SIZE);
        }
        socket.shutdown();
        maybeClosed();
    }

    /** Once nothing runs on the socket any more, closes it and tells the owner. */
    void maybeClosed() {
        if (closed || ringOps > 0 || !(broken || ending)) {
            return;
        }
        closed = true;
        outbox.clear();
        socket.close();
        arena.close();
        owner.closed(this, broken ? reason : null, violated);
    }

    /** Closes the socket whatever runs on it: only after the ring has drained (queue close). */
    void forceClose() {
        if (!closed) {
            closed = true;
            socket.close();
            arena.close();
        }
    }
}
