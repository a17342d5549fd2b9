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
 * One handshaken socket on a queue's ring: sends commands one batch after the other (a stream
 * socket must not interleave two requests' bytes): every command waiting when the previous send
 * finished goes out in one WRITEV, each header followed by its guest data, up to
 * {@link #MAX_BATCH} commands or the kernel's iovec limit. It keeps one receive standing through
 * its {@link ReplyReader}. Whatever goes wrong (an I/O error, end of
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
    /** Commands per send: a queue's burst of requests costs one system call, not one each. */
    static final int MAX_BATCH = 64;

    /** One request header per command of a batch (made once: sends allocate nothing); the first also carries the goodbye. */
    private final MemorySegment[] headers = new MemorySegment[MAX_BATCH];
    private final IoVecArray wire = new IoVecArray(arena, IoVecArray.IOV_MAX);
    private final ArrayDeque<NbdCommand> outbox = new ArrayDeque<>();
    private final ReplyReader reader;
    /** The commands of the send in flight, in wire order. */
    private final NbdCommand[] batch = new NbdCommand[MAX_BATCH];
    private int batchCount;
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
        MemorySegment all = arena.allocate((long) NbdWire.REQUEST_SIZE * MAX_BATCH, 8);
        for (int i = 0; i < MAX_BATCH; i++) {
            headers[i] = all.asSlice((long) i * NbdWire.REQUEST_SIZE, NbdWire.REQUEST_SIZE);
        }
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
        if (batchCount > 0 || !usable() || outbox.isEmpty()) {
            return;
        }
        wire.clear();
        dataStep = false;
        while (batchCount < MAX_BATCH && !outbox.isEmpty()) {
            NbdCommand c = outbox.peek();
            boolean payload = c.type == NbdWire.CMD_WRITE;
            int entries = 1 + (payload ? c.data.count() : 0);
            if (wire.count() + entries > wire.capacity()) {
                if (batchCount > 0) {
                    break; // it goes first in the next batch
                }
                // A payload with as many pieces as the kernel takes in one call goes alone, in a second call.
                dataStep = true;
            }
            outbox.poll();
            MemorySegment header = headers[batchCount];
            NbdWire.request(header, c.flags, c.type, c.handle, c.offset, c.length);
            wire.add(header.address(), NbdWire.REQUEST_SIZE);
            if (payload && !dataStep) {
                for (int i = 0; i < c.data.count(); i++) {
                    wire.add(c.data.address(i), c.data.length(i));
                }
            }
            c.sending = true;
            batch[batchCount++] = c;
            if (dataStep) {
                break;
            }
        }
        submitSend();
    }

    private void submitSend() {
        sendBytes = wire.totalBytes();
        try {
            ring.writev(socket.fd(), wire, 0, this, 0);
            ringOps++;
        } catch (NativeException e) {
            finishBatch();
            fail("cannot submit a send: " + e.getMessage());
        }
    }

    /** The batch's send is over (done or failed): replies that came early are delivered now. */
    private void finishBatch() {
        int n = batchCount;
        batchCount = 0;
        for (int i = 0; i < n; i++) {
            NbdCommand c = batch[i];
            batch[i] = null;
            c.sending = false;
            if (c.replied) {
                owner.replied(c, c.result); // after a failed send: the server answered it all the same
            }
        }
    }

    /** A send finished. */
    @Override
    public void complete(long tag, int res) {
        ringOps--;
        if (res != sendBytes) {
            finishBatch();
            fail(res < 0 ? "send failed: " + Errno.name(res) : "the server stopped taking data");
            return;
        }
        if (dataStep && usable()) {
            dataStep = false;
            NbdCommand c = batch[0];
            wire.setSlice(c.data, 0, c.data.totalBytes());
            submitSend();
            return;
        }
        finishBatch();
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
        if (batchCount == 0) {
            MemorySegment header = headers[0];
            NbdWire.request(header, (short) 0, NbdWire.CMD_DISC, 0, 0, 0);
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
