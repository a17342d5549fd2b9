package dev.vublk.block.storage.nbd;

import dev.vublk.block.storage.StorageQueue;
import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One queue thread's side of an {@link NbdVolume}: its own connection, driven on its ring. Each
 * call becomes an {@link NbdOp} split into NBD commands the server takes (reads and writes at most
 * its maximum payload). While the connection is down, commands wait, and a timer on the ring
 * tries to reconnect with growing pauses; commands waiting longer than the volume's reconnect
 * delay fail with EIO, and once a connection is back the others go out again.
 *
 * Attempts are paced (doubling, up to a quarter of the delay); a command keeps its first waiting
 * clock when sent again, so one that keeps breaking connections still gives up.
 *
 * <p>Without CAN_MULTI_CONN a flush must reach every connection of the volume: the other queues'
 * threads get their part through their {@link FlushMailbox}, and a stopping queue that wrote since
 * its last flush flushes its own connection before it says goodbye. A stopping queue waits for its
 * commands in flight for the reconnect delay at most, then drops the connection (they fail).
 */
final class NbdQueue implements StorageQueue, NbdConnection.Owner {
    private static final Logger LOG = LoggerFactory.getLogger(NbdQueue.class);
    private static final long FIRST_BACKOFF = 50_000_000L, MAX_BACKOFF = 1_000_000_000L;
    /** A reconnect blocks the queue thread this long at most (connect, then each handshake step). */
    static final Duration RECONNECT_TIMEOUT = Duration.ofSeconds(1);
    /** Write-zeroes carries no payload; its length field is 32 bits. */
    private static final int MAX_ZERO_COMMAND = 1 << 30;
    /** Zeros a server without WRITE_ZEROES gets written from, shared by every queue (read-only use). */
    private static final int ZERO_BUFFER = 1 << 20;
    private static final MemorySegment ZEROS = Arena.global().allocate(ZERO_BUFFER, 4096);
    private static final IoCompletion IGNORE = (tag, res) -> {};

    private final NbdVolume volume;
    private final IoUring ring;
    private final NbdExport export;
    private final long delayNanos;
    /** A quarter of the delay at most: a waiting request sees several attempts before it gives up. */
    private final long maxBackoff;
    private final Arena arena = Arena.ofShared();
    private final FlushMailbox mailbox;
    private final MemorySegment timespec = arena.allocate(16, 8);
    private final IoCompletion timerDone = this::timer;
    private final ArrayDeque<NbdCommand> freeCommands = new ArrayDeque<>();
    private final ArrayDeque<NbdOp> freeOps = new ArrayDeque<>();
    /** Commands waiting for a connection. */
    private final ArrayDeque<NbdCommand> waiting = new ArrayDeque<>();
    private NbdCommand[] table = new NbdCommand[16];
    private int tableSize;
    private NbdConnection conn;
    private int liveOps;
    private boolean dirty;
    private boolean stopping;
    /** When a stopping queue stops waiting for replies (the reconnect delay after the stop). */
    private long stopDeadline;
    private boolean timerArmed, timerCancelled;
    private int timerId;
    private long backoff = FIRST_BACKOFF;
    private long nextAttempt;
    private boolean lostWarned;

    NbdQueue(NbdVolume volume, IoUring ring) throws IOException {
        this.volume = volume;
        this.ring = ring;
        this.export = volume.export();
        this.delayNanos = volume.reconnectDelay().toNanos();
        this.maxBackoff = Math.max(FIRST_BACKOFF, Math.min(MAX_BACKOFF, delayNanos / 4));
        this.mailbox = export.multiConn() ? null : new FlushMailbox(ring, this::deliver);
        try {
            if (mailbox != null) {
                mailbox.arm();
            }
            try {
                attach(NbdHandshake.open(volume.uri(), NbdVolume.OPEN_TIMEOUT));
            } catch (IOException e) {
                lost(e.getMessage());
                armTimer();
            }
        } catch (NativeException | RuntimeException e) {
            if (mailbox != null) {
                mailbox.free();
            }
            arena.close();
            throw e;
        }
    }

    boolean post(Object message) {
        return mailbox != null && mailbox.post(message);
    }

    // ---- operations ---------------------------------------------------------------------------

    @Override
    public void readv(long offset, IoVecArray iov, IoCompletion done, long tag) {
        transfer(NbdWire.CMD_READ, offset, iov, 0, iov.totalBytes(), done, tag);
    }

    @Override
    public void writev(long offset, IoVecArray iov, IoCompletion done, long tag) {
        transfer(NbdWire.CMD_WRITE, offset, iov, 0, iov.totalBytes(), done, tag);
    }

    @Override
    public void read(long offset, long address, int length, IoCompletion done, long tag) {
        transfer(NbdWire.CMD_READ, offset, null, address, length, done, tag);
    }

    @Override
    public void write(long offset, long address, int length, IoCompletion done, long tag) {
        transfer(NbdWire.CMD_WRITE, offset, null, address, length, done, tag);
    }

    /** Splits a transfer from {@code iov}'s buffers, or from {@code address} when it is null, into commands. */
    private void transfer(short type, long offset, IoVecArray iov, long address, long total, IoCompletion done, long tag) {
        if (type == NbdWire.CMD_WRITE && !volume.writable()) {
            done.complete(tag, -Errno.EROFS);
            return;
        }
        if (total > Integer.MAX_VALUE) {
            done.complete(tag, -Errno.EINVAL);
            return;
        }
        NbdOp op = newOp(done, tag, (int) total);
        dirty |= type == NbdWire.CMD_WRITE;
        int chunk = export.maxPayload();
        for (long pos = 0; pos < total; pos += chunk) {
            int n = (int) Math.min(chunk, total - pos);
            NbdCommand c = newCommand(op, type, (short) 0, offset + pos, n);
            if (iov != null) {
                c.data(iov.count()).setSlice(iov, pos, n);
            } else {
                c.data(1).add(address + pos, n);
            }
            submit(c);
        }
        partDone(op, 0);
    }

    @Override
    public void zero(long offset, long length, boolean release, IoCompletion done, long tag) {
        if (!volume.writable()) {
            done.complete(tag, -Errno.EROFS);
            return;
        }
        NbdOp op = newOp(done, tag, 0);
        dirty = true;
        boolean command = export.sendsWriteZeroes();
        // Without WRITE_ZEROES zeros are written: TRIM may leave anything behind, so it never zeroes.
        int chunk = command ? MAX_ZERO_COMMAND : Math.min(ZERO_BUFFER, export.maxPayload());
        short flags = release ? 0 : NbdWire.CMD_FLAG_NO_HOLE;
        for (long pos = 0; pos < length; pos += chunk) {
            int n = (int) Math.min(chunk, length - pos);
            NbdCommand c = newCommand(op, command ? NbdWire.CMD_WRITE_ZEROES : NbdWire.CMD_WRITE,
                    command ? flags : 0, offset + pos, n);
            if (!command) {
                c.data(1).add(ZEROS.address(), n);
            }
            submit(c);
        }
        partDone(op, 0);
    }

    @Override
    public void flush(IoCompletion done, long tag) {
        NbdOp op = newOp(done, tag, 0);
        flushOwn(op);
        if (mailbox != null && export.sendsFlush()) {
            for (NbdQueue q : volume.queues()) {
                if (q != this) {
                    op.addPart();
                    if (!q.post(new FlushMailbox.Request(this, op))) {
                        op.partDone(0); // a queue that closed has flushed before it said goodbye
                    }
                }
            }
        }
        partDone(op, 0);
    }

    /** A flush on this queue's connection, a part of {@code op}; nothing to do for a server without a cache. */
    private void flushOwn(NbdOp op) {
        if (export.sendsFlush()) {
            dirty = false;
            submit(newCommand(op, NbdWire.CMD_FLUSH, (short) 0, 0, 0));
        }
    }

    /** A message from another queue's thread, on this one's. */
    private void deliver(Object message) {
        if (message instanceof FlushMailbox.Request r) {
            NbdOp op = newOp((tag, res) -> r.from().post(new FlushMailbox.Reply(r.op(), res)), 0, 0);
            flushOwn(op);
            partDone(op, 0);
        } else if (message instanceof FlushMailbox.Reply r) {
            partDone(r.op(), r.result());
        }
    }

    // ---- commands -----------------------------------------------------------------------------

    private NbdOp newOp(IoCompletion done, long tag, int bytes) {
        NbdOp op = freeOps.isEmpty() ? new NbdOp() : freeOps.pop();
        op.start(done, tag, bytes);
        liveOps++;
        return op;
    }

    private void partDone(NbdOp op, int result) {
        if (op.partDone(result)) {
            liveOps--;
            op.complete();
            freeOps.push(op);
            maybeEnd();
        }
    }

    private NbdCommand newCommand(NbdOp op, short type, short flags, long offset, int length) {
        NbdCommand c;
        if (freeCommands.isEmpty()) {
            if (tableSize == table.length) {
                table = Arrays.copyOf(table, tableSize * 2);
            }
            c = new NbdCommand(tableSize, arena);
            table[tableSize++] = c;
        } else {
            c = freeCommands.pop();
        }
        c.set(op, type, flags, offset, length);
        op.addPart();
        return c;
    }

    private void submit(NbdCommand c) {
        if (conn != null && conn.usable()) {
            c.state = NbdCommand.SENT;
            conn.send(c);
        } else if (stopping) {
            finish(c, -Errno.EIO);
        } else {
            await(c, System.nanoTime());
            armTimer();
        }
    }

    /** Puts a command among those waiting for a connection; its clock starts the first time only. */
    private void await(NbdCommand c, long now) {
        if (!c.waited) {
            c.waited = true;
            c.waitingSince = now;
        }
        c.state = NbdCommand.WAITING;
        waiting.add(c);
    }

    private void finish(NbdCommand c, int result) {
        NbdOp op = c.op;
        c.op = null;
        c.state = NbdCommand.FREE;
        freeCommands.push(c);
        partDone(op, result);
    }

    @Override
    public NbdCommand awaiting(long handle) {
        if (handle < 0 || handle >= tableSize) {
            return null;
        }
        NbdCommand c = table[(int) handle];
        return c.state == NbdCommand.SENT ? c : null;
    }

    @Override
    public void replied(NbdCommand c, int result) {
        if (result >= 0) {
            backoff = FIRST_BACKOFF;
        }
        finish(c, result);
    }

    // ---- connection life ----------------------------------------------------------------------

    private void attach(NbdHandshake.Session session) {
        conn = new NbdConnection(ring, session, this);
        conn.start();
    }

    @Override
    public void closed(NbdConnection c, String reason, boolean violated) {
        conn = null;
        if (reason != null) {
            lost(reason);
        }
        long now = System.nanoTime();
        for (int i = 0; i < tableSize; i++) {
            NbdCommand cmd = table[i];
            if (cmd.state != NbdCommand.SENT) {
                continue;
            }
            cmd.resetReply();
            if (violated || stopping) {
                finish(cmd, -Errno.EIO);
            } else {
                await(cmd, now);
            }
        }
        if (stopping) {
            maybeEnd();
        } else {
            armTimer();
        }
    }

    private void lost(String reason) {
        if (!lostWarned) {
            lostWarned = true;
            LOG.warn("NBD connection to {} lost ({}); requests wait up to {} ms for it to come back",
                    volume.name(), reason, delayNanos / 1_000_000);
        }
    }

    /**
     * The one timer: while the connection is down, the next attempt or the next command to give
     * up; while stopping with commands in flight, the stop's deadline.
     */
    private void armTimer() {
        if (timerArmed || stopping && liveOps == 0) {
            return;
        }
        long now = System.nanoTime();
        long wait;
        if (stopping) {
            wait = Math.max(0, stopDeadline - now);
        } else {
            wait = Math.max(0, nextAttempt - now);
            for (NbdCommand c : waiting) {
                wait = Math.min(wait, Math.max(0, c.waitingSince + delayNanos - now));
            }
        }
        try {
            timerId = ring.timeout(timespec, Math.max(wait, 1_000_000L), timerDone, 0);
            timerArmed = true;
        } catch (NativeException e) {
            throw new IllegalStateException("cannot arm the NBD reconnect timer", e);
        }
    }

    private void timer(long tag, int res) {
        timerArmed = false;
        timerCancelled = false;
        if (stopping) {
            // A server that never answers must not hold a stopping queue (and its vhost-user queue) forever.
            if (liveOps > 0 && conn != null && System.nanoTime() >= stopDeadline) {
                conn.fail("the queue is stopping and the server left requests unanswered for "
                        + delayNanos / 1_000_000 + " ms");
            }
            armTimer();
            maybeEnd();
            return;
        }
        long now = System.nanoTime();
        // Commands sent again keep their first clock, so the oldest may be anywhere: look at each once.
        for (int n = waiting.size(); n > 0; n--) {
            NbdCommand c = waiting.poll();
            if (now - c.waitingSince >= delayNanos) {
                finish(c, -Errno.EIO);
            } else {
                waiting.add(c);
            }
        }
        if (conn == null && now >= nextAttempt) {
            reconnect();
        }
        if (conn == null) {
            armTimer();
        }
    }

    private void reconnect() {
        String refused;
        try {
            NbdHandshake.Session s = NbdHandshake.open(volume.uri(), RECONNECT_TIMEOUT);
            refused = volume.sameExport(s.export());
            if (refused == null) {
                attach(s);
            } else {
                s.socket().close();
            }
        } catch (IOException e) {
            refused = e.getMessage();
        }
        // Paced whatever the outcome: a server that takes connections only to drop them is not
        // hammered. A reply that succeeds shows the connection works and resets the pace.
        nextAttempt = System.nanoTime() + backoff;
        backoff = Math.min(backoff * 2, maxBackoff);
        if (refused != null) {
            LOG.debug("NBD reconnect to {} failed: {}", volume.name(), refused);
            return;
        }
        if (lostWarned) {
            lostWarned = false;
            LOG.info("NBD connection to {} is back", volume.name());
        }
        NbdCommand c;
        while ((c = waiting.poll()) != null) {
            submit(c);
        }
    }

    // ---- stop and close -----------------------------------------------------------------------

    @Override
    public void stop() {
        if (!stopping) {
            stopping = true;
            stopDeadline = System.nanoTime() + delayNanos;
        }
        NbdCommand c;
        while ((c = waiting.poll()) != null) {
            finish(c, -Errno.EIO);
        }
        maybeEnd();
        armTimer();
    }

    /**
     * Once a stopping queue's own operations are done: a last flush if this connection holds
     * writes no other flush covers, then the connection, the timer and the mailbox end.
     */
    private void maybeEnd() {
        if (!stopping || liveOps > 0) {
            return;
        }
        if (dirty && mailbox != null && conn != null && conn.usable() && export.sendsFlush()) {
            NbdOp op = newOp(IGNORE, 0, 0);
            flushOwn(op);
            partDone(op, 0);
            return;
        }
        if (conn != null) {
            conn.end();
        }
        if (timerArmed && !timerCancelled) {
            timerCancelled = true;
            try {
                ring.cancel(timerId, IGNORE, 0);
            } catch (NativeException e) {
                throw new IllegalStateException("cannot cancel the NBD reconnect timer", e);
            }
        }
        if (mailbox != null) {
            mailbox.close();
        }
    }

    @Override
    public void close() {
        if (conn != null) {
            conn.forceClose();
            conn = null;
        }
        if (mailbox != null) {
            mailbox.free();
        }
        volume.closed(this);
        arena.close();
    }
}
