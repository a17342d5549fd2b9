package dev.vublk.vhost;

import static dev.vublk.vhost.ProtocolFeatures.has;

import dev.vublk.uring.Errno;
import dev.vublk.uring.Fds;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.ReceivedMessage;
import dev.vublk.uring.UnixSocket;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The back-end communication channel the front-end handed over with SET_BACKEND_REQ_FD: the one
 * place back-end-initiated requests ("Back-end message types" in vhost-user.rst) are sent from.
 *
 * <p>Any thread may send (a resize runs on the control socket's thread, not the connection's),
 * so sending is serialized, and the connection may close meanwhile: {@link #close} only shuts the
 * socket down while a sender is inside, and the descriptor is closed by whoever leaves last, so a
 * sender never writes to a descriptor number reused for something else. Every send and every
 * wait for an ack is bounded by {@link #timeout}: a front-end that never reads or never answers
 * costs one timeout and a log line. After a missed or malformed ack the channel is given up
 * (shut down), since a late ack would otherwise be taken as the answer to the next request.
 */
public final class BackendChannel implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(BackendChannel.class);
    /** VHOST_USER_BACKEND_CONFIG_CHANGE_MSG: no payload; the front-end rereads the config space. */
    static final int CONFIG_CHANGE_MSG = 2;
    /** How long a send or an ack may take by default: QEMU answers from its main loop in microseconds. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(5);

    /** What became of one request. */
    public enum Outcome {
        /** Sent, and the front-end acknowledged it with zero. */
        ACKED,
        /** Sent; REPLY_ACK was not negotiated, so no answer was asked for. */
        SENT,
        /** The front-end answered with a non-zero status. */
        REFUSED,
        /** Not sent: the protocol feature it needs was not negotiated. */
        NOT_NEGOTIATED,
        /** The channel is closed, broken, or the send or the ack failed or timed out. */
        FAILED
    }

    private final UnixSocket socket;
    private final long protocolFeatures;
    private final Duration timeout;
    private final ReentrantLock sending = new ReentrantLock();
    private final Object state = new Object();
    /** Senders inside the socket now; the descriptor is closed only when none is. */
    private int users;
    private boolean closed;
    private boolean broken;

    /**
     * @param socket           the channel; owned by this object from here on
     * @param protocolFeatures the protocol features the front-end acknowledged
     */
    public BackendChannel(UnixSocket socket, long protocolFeatures, Duration timeout) throws NativeException {
        this.socket = socket;
        this.protocolFeatures = protocolFeatures;
        this.timeout = timeout;
        try {
            socket.setTimeouts(timeout);
        } catch (NativeException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    /**
     * Tells the front-end the config space changed (it then sends GET_CONFIG and tells the
     * driver), asking for an ack when REPLY_ACK was negotiated. Never throws, never blocks much
     * longer than twice the timeout; the outcome says what happened and a failure is logged.
     */
    public Outcome configChanged() {
        if (!has(protocolFeatures, ProtocolFeatures.CONFIG)) {
            return Outcome.NOT_NEGOTIATED;
        }
        return request(CONFIG_CHANGE_MSG, "CONFIG_CHANGE_MSG");
    }

    private Outcome request(int type, String name) {
        boolean needReply = has(protocolFeatures, ProtocolFeatures.REPLY_ACK);
        try {
            if (!sending.tryLock(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                LOG.warn("backend channel: {} not sent: an earlier request has waited for its ack for {}", name, timeout);
                return Outcome.FAILED;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Outcome.FAILED;
        }
        try {
            if (!enter()) {
                LOG.warn("backend channel: {} not sent: the channel is {}", name, closedOrBroken());
                return Outcome.FAILED;
            }
            try {
                return exchange(type, name, needReply);
            } finally {
                leave();
            }
        } finally {
            sending.unlock();
        }
    }

    private Outcome exchange(int type, String name, boolean needReply) {
        int flags = MessageHeader.VERSION | (needReply ? MessageHeader.NEED_REPLY : 0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(MessageHeader.SIZE);
            new MessageHeader(type, flags, 0).encode(out.asByteBuffer());
            socket.send(out, out.byteSize());
            if (!needReply) {
                return Outcome.SENT;
            }
            MemorySegment in = arena.allocate(MessageHeader.SIZE + Payloads.U64, 8);
            receiveFully(in);
            ByteBuffer b = in.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            MessageHeader reply = MessageHeader.decode(b.slice(0, MessageHeader.SIZE));
            if (reply.request() != type || !reply.isReply() || reply.version() != MessageHeader.VERSION
                    || reply.size() != Payloads.U64) {
                giveUp("the front-end answered " + name + " with request " + reply.request() + ", flags 0x"
                        + Integer.toHexString(reply.flags()) + ", " + Integer.toUnsignedString(reply.size())
                        + " payload bytes instead of an ack");
                return Outcome.FAILED;
            }
            long status = in.get(ValueLayout.JAVA_LONG_UNALIGNED, MessageHeader.SIZE);
            if (status != 0) {
                LOG.warn("backend channel: the front-end answered {} with failure status {}", name, status);
                return Outcome.REFUSED;
            }
            return Outcome.ACKED;
        } catch (IOException e) {
            boolean timedOut = e instanceof NativeException n && (n.errno() == Errno.EAGAIN || n.errno() == Errno.ETIMEDOUT);
            giveUp(timedOut ? "no answer to " + name + " within " + timeout : name + " failed: " + e.getMessage());
            return Outcome.FAILED;
        }
    }

    /**
     * The ack: header and u64 status, read to the byte. A front-end dribbling bytes gets one
     * timeout for the whole of it, not one per read.
     */
    private void receiveFully(MemorySegment in) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long done = 0;
        while (done < in.byteSize()) {
            if (System.nanoTime() - deadline > 0) {
                throw new NativeException("recvmsg (ack incomplete)", Errno.ETIMEDOUT);
            }
            ReceivedMessage m = socket.receive(in.asSlice(done), in.byteSize() - done, 1);
            Fds.closeAllQuietly(m.fds()); // an ack carries none; whatever came is not ours to keep
            if (m.bytes() == 0) {
                throw new IOException("the front-end closed the channel");
            }
            done += m.bytes();
        }
    }

    private void giveUp(String why) {
        LOG.warn("backend channel: {}; it is given up for this connection (the guest sees later config changes"
                + " at its next config read)", why);
        synchronized (state) {
            broken = true;
        }
        socket.shutdown();
    }

    private boolean enter() {
        synchronized (state) {
            if (closed || broken) {
                return false;
            }
            users++;
            return true;
        }
    }

    private void leave() {
        synchronized (state) {
            users--;
            if (closed && users == 0) {
                socket.close();
            }
        }
    }

    private String closedOrBroken() {
        synchronized (state) {
            return closed ? "closed" : "broken";
        }
    }

    /** Ends the channel; a sender inside is woken by the shutdown and closes the descriptor when it leaves. */
    @Override
    public void close() {
        synchronized (state) {
            if (closed) {
                return;
            }
            closed = true;
            if (users > 0) {
                socket.shutdown();
                return;
            }
        }
        socket.close();
    }
}
