package dev.vublk.tests.frontend;

import dev.vublk.uring.Fds;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.UnixSocket;
import dev.vublk.vhost.ConfigSpace;
import dev.vublk.vhost.Connection;
import dev.vublk.vhost.InflightDescriptor;
import dev.vublk.vhost.MemoryRegionDescriptor;
import dev.vublk.vhost.Message;
import dev.vublk.vhost.MessageHeader;
import dev.vublk.vhost.MessageType;
import dev.vublk.vhost.Payloads;
import dev.vublk.vhost.ProtocolFeatures;
import dev.vublk.vhost.VringAddress;
import dev.vublk.vhost.VringState;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The frontend end of a vhost-user connection: one method per request type, reply checking as
 * QEMU does it (reply flags exactly REPLY | version 1, same request code, u64 acks), NEED_REPLY
 * per a {@link NeedReply} policy once REPLY_ACK is negotiated, and raw sends for malformed-input
 * tests. Every wait for a reply is bounded by {@link #timeout()}: a silent backend is an error.
 * One thread at a time.
 */
public final class VhostUserClient implements AutoCloseable {
    public static final int VRING_NOFD = 0x100;

    private final Connection connection;
    private NeedReply needReply = NeedReply.QEMU;
    private long protocolFeatures;
    private Duration timeout = Duration.ofSeconds(10);

    private VhostUserClient(UnixSocket socket) {
        this.connection = new Connection(socket);
    }

    /** Connects, retrying while the socket does not exist or nobody listens yet (as cloud-hypervisor does). */
    public static VhostUserClient connect(Path socketPath, Duration patience) throws IOException {
        long deadline = System.nanoTime() + patience.toNanos();
        while (true) {
            try {
                return new VhostUserClient(UnixSocket.connect(socketPath));
            } catch (NativeException e) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("cannot connect to " + socketPath + ": " + e.getMessage(), e);
                }
                try {
                    Thread.sleep(20);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted", ie);
                }
            }
        }
    }

    public VhostUserClient needReply(NeedReply policy) {
        this.needReply = policy;
        return this;
    }

    public NeedReply needReply() {
        return needReply;
    }

    public Duration timeout() {
        return timeout;
    }

    public VhostUserClient timeout(Duration t) {
        this.timeout = t;
        return this;
    }

    /** Protocol features acknowledged with SET_PROTOCOL_FEATURES. */
    public long protocolFeatures() {
        return protocolFeatures;
    }

    public boolean replyAck() {
        return ProtocolFeatures.has(protocolFeatures, ProtocolFeatures.REPLY_ACK);
    }

    // ---- generic exchange ----

    /**
     * Sends a request and collects what the protocol says comes back: the reply of a GET_*-type
     * request, or the ack when {@code flagNeedReply} and REPLY_ACK is negotiated; null otherwise.
     */
    public Reply exchange(MessageType type, ByteBuffer payload, boolean flagNeedReply, int... fds) {
        ByteBuffer p = payload == null ? ByteBuffer.allocate(0) : payload.duplicate();
        if (p.position() != 0) {
            p = p.slice();
        }
        int flags = MessageHeader.VERSION | (flagNeedReply ? MessageHeader.NEED_REPLY : 0);
        try {
            connection.send(new MessageHeader(type.code(), flags, p.remaining()), p, fds);
        } catch (NativeException e) {
            throw new VhostUserException("sending " + type + ": " + e.getMessage(), e);
        }
        if (type.alwaysReplies() || (flagNeedReply && replyAck())) {
            return receiveReplyTo(type.code());
        }
        return null;
    }

    /** Sends with the policy's NEED_REPLY choice; a non-zero ack throws {@link VhostUserRefused}. */
    public void request(MessageType type, ByteBuffer payload, int... fds) {
        Reply r = exchange(type, payload, needReply.wants(type) && replyAck(), fds);
        if (r != null && !type.alwaysReplies()) {
            long ack = r.u64();
            if (ack != 0) {
                throw new VhostUserRefused(type + " refused with ack " + ack, ack);
            }
        }
    }

    /** A request that always replies; an empty reply (the backend's refusal) throws {@link VhostUserRefused}. */
    public Reply query(MessageType type, ByteBuffer payload) {
        Reply r = exchange(type, payload, false);
        if (r.payload().length == 0) {
            throw new VhostUserRefused(type + " refused (empty reply)", -1);
        }
        return r;
    }

    /** Waits for the next message; it must be a reply (flags exactly 0x5) to {@code requestCode}. */
    public Reply receiveReplyTo(int requestCode) {
        Reply r = receive();
        if (r == null) {
            throw new VhostUserException("backend closed the connection instead of answering request " + requestCode);
        }
        if (r.header().flags() != (MessageHeader.REPLY | MessageHeader.VERSION)) {
            throw new VhostUserException("reply flags 0x" + Integer.toHexString(r.header().flags()) + ", expected 0x5");
        }
        if (r.header().request() != requestCode) {
            throw new VhostUserException("reply to request " + r.header().request() + " while waiting for " + requestCode);
        }
        return r;
    }

    /** The next message from the backend, or null when it closed the connection; bounded by the timeout. */
    public Reply receive() {
        AtomicBoolean fired = new AtomicBoolean();
        ScheduledFuture<?> alarm = Watchdog.after(timeout, () -> {
            fired.set(true);
            connection.shutdown();
        });
        Message m;
        try {
            m = connection.receive();
        } catch (IOException e) {
            if (fired.get()) {
                throw new VhostUserException("no answer from the backend within " + timeout);
            }
            if (isReset(e)) {
                return null;
            }
            throw new VhostUserException("receiving: " + e.getMessage(), e);
        } finally {
            alarm.cancel(false);
        }
        if (fired.get()) {
            throw new VhostUserException("no answer from the backend within " + timeout);
        }
        if (m == null) {
            return null;
        }
        byte[] payload = new byte[m.payload().remaining()];
        m.payload().get(payload);
        return new Reply(m.header(), payload, m.fds());
    }

    private static boolean isReset(IOException e) {
        return e instanceof NativeException n && (n.errno() == 104 /* ECONNRESET */ || n.errno() == 32 /* EPIPE */);
    }

    /**
     * Whether the backend closed the connection: nothing arrives but end-of-stream within the
     * timeout. A message arriving instead is a protocol error.
     */
    public boolean awaitClosedByPeer() {
        Reply r = receive();
        if (r != null) {
            throw new VhostUserException("expected the backend to hang up, got a message for request " + r.header().request());
        }
        return true;
    }

    // ---- raw messages for malformed-input tests ----

    /**
     * Sends exactly these bytes: a header with any request code, flags and declared size, then
     * {@code payload} (whose length need not match), with any descriptors.
     */
    public void sendRaw(int request, int flags, int declaredSize, byte[] payload, int... fds) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(MessageHeader.SIZE + payload.length);
            ByteBuffer b = out.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            b.putInt(0, request).putInt(4, flags).putInt(8, declaredSize);
            MemorySegment.copy(MemorySegment.ofArray(payload), 0, out, MessageHeader.SIZE, payload.length);
            connection.socket().send(out, out.byteSize(), fds);
        } catch (NativeException e) {
            throw new VhostUserException("raw send: " + e.getMessage(), e);
        }
    }

    // ---- typed requests ----

    public long getFeatures() {
        return query(MessageType.GET_FEATURES, null).u64();
    }

    public void setFeatures(long features) {
        request(MessageType.SET_FEATURES, Payloads.u64(features));
    }

    public long getProtocolFeatures() {
        return query(MessageType.GET_PROTOCOL_FEATURES, null).u64();
    }

    public void setProtocolFeatures(long features) {
        request(MessageType.SET_PROTOCOL_FEATURES, Payloads.u64(features));
        protocolFeatures = features;
    }

    public void setOwner() {
        request(MessageType.SET_OWNER, null);
    }

    public void resetOwner() {
        request(MessageType.RESET_OWNER, null);
    }

    public void resetDevice() {
        request(MessageType.RESET_DEVICE, null);
    }

    public long getQueueNum() {
        return query(MessageType.GET_QUEUE_NUM, null).u64();
    }

    public long getMaxMemSlots() {
        return query(MessageType.GET_MAX_MEM_SLOTS, null).u64();
    }

    /** GET_CONFIG; returns the reply's config record (offset, size, flags, bytes). */
    public ConfigSpace getConfig(int offset, int size, int flags) {
        Reply r = query(MessageType.GET_CONFIG, new ConfigSpace(offset, size, flags, new byte[size]).encode());
        ConfigSpace c = ConfigSpace.decode(r.buffer(), r.payload().length);
        if (c == null) {
            throw new VhostUserException("malformed GET_CONFIG reply of " + r.payload().length + " bytes");
        }
        return c;
    }

    public void setConfig(int offset, byte[] data, int flags) {
        request(MessageType.SET_CONFIG, new ConfigSpace(offset, data.length, flags, data).encode());
    }

    public void setMemTable(List<RamRegion> regions) {
        int[] fds = regions.stream().mapToInt(RamRegion::fd).toArray();
        request(MessageType.SET_MEM_TABLE, MemoryRegionDescriptor.encodeTable(
                regions.stream().map(RamRegion::descriptor).toList()), fds);
    }

    public void addMemReg(RamRegion region) {
        request(MessageType.ADD_MEM_REG, region.descriptor().encodeSingle(), region.fd());
    }

    /** REM_MEM_REG, the region's fd sent along as QEMU does. */
    public void remMemReg(RamRegion region) {
        request(MessageType.REM_MEM_REG, region.descriptor().encodeSingle(), region.fd());
    }

    public void setVringNum(int index, int num) {
        request(MessageType.SET_VRING_NUM, new VringState(index, num).encode());
    }

    public void setVringBase(int index, int base) {
        request(MessageType.SET_VRING_BASE, new VringState(index, base).encode());
    }

    public void setVringAddr(VringAddress address) {
        request(MessageType.SET_VRING_ADDR, address.encode());
    }

    /** GET_VRING_BASE: stops the ring and returns its last_avail_idx. */
    public int getVringBase(int index) {
        Reply r = query(MessageType.GET_VRING_BASE, new VringState(index, 0).encode());
        if (r.payload().length != Payloads.VRING_STATE) {
            throw new VhostUserException("GET_VRING_BASE reply of " + r.payload().length + " bytes");
        }
        VringState s = VringState.decode(r.buffer());
        if (s.index() != index) {
            throw new VhostUserException("GET_VRING_BASE answered for queue " + s.index() + ", asked " + index);
        }
        return s.num();
    }

    /** GET_INFLIGHT_FD: the backend's new inflight area; the caller owns the returned descriptor. */
    public Inflight getInflightFd(int numQueues, int queueSize) {
        Reply r = query(MessageType.GET_INFLIGHT_FD, new InflightDescriptor(0, 0, numQueues, queueSize).encode());
        if (r.fds().length != 1 || r.payload().length < Payloads.INFLIGHT_MIN) {
            dev.vublk.uring.Fds.closeAllQuietly(r.fds());
            throw new VhostUserException("GET_INFLIGHT_FD reply with " + r.fds().length + " fds and "
                    + r.payload().length + " bytes");
        }
        return new Inflight(InflightDescriptor.decode(r.buffer()), r.fds()[0]);
    }

    /** SET_INFLIGHT_FD: hands an inflight area (back) to the backend. */
    public void setInflightFd(Inflight inflight) {
        request(MessageType.SET_INFLIGHT_FD, inflight.descriptor().encode(), inflight.fd());
    }

    /** An inflight area: what the backend described and the memfd holding it. */
    public record Inflight(InflightDescriptor descriptor, int fd) {}

    public void setVringKick(int index, int fd) {
        vringFd(MessageType.SET_VRING_KICK, index, fd);
    }

    public void setVringCall(int index, int fd) {
        vringFd(MessageType.SET_VRING_CALL, index, fd);
    }

    public void setVringErr(int index, int fd) {
        vringFd(MessageType.SET_VRING_ERR, index, fd);
    }

    private void vringFd(MessageType type, int index, int fd) {
        if (fd < 0) {
            request(type, Payloads.u64(index | VRING_NOFD));
        } else {
            request(type, Payloads.u64(index), fd);
        }
    }

    public void setVringEnable(int index, boolean enable) {
        request(MessageType.SET_VRING_ENABLE, new VringState(index, enable ? 1 : 0).encode());
    }

    public void setBackendReqFd(int fd) {
        request(MessageType.SET_BACKEND_REQ_FD, null, fd);
    }

    public void setLogBase(long size, long offset, int fd) {
        ByteBuffer b = ByteBuffer.allocate(Payloads.LOG).order(ByteOrder.LITTLE_ENDIAN).putLong(0, size).putLong(8, offset);
        if (!ProtocolFeatures.has(protocolFeatures, ProtocolFeatures.LOG_SHMFD)) {
            request(MessageType.SET_LOG_BASE, b, fd);
            return;
        }
        long answer = setLogBaseRaw(b, fd);
        if (answer != 0) {
            throw new VhostUserRefused("SET_LOG_BASE refused with " + answer, answer);
        }
    }

    /**
     * SET_LOG_BASE with LOG_SHMFD negotiated, as QEMU sends it: no NEED_REPLY, yet the backend
     * always answers; returns the u64 it answered.
     */
    public long setLogBaseRaw(ByteBuffer payload, int... fds) {
        exchange(MessageType.SET_LOG_BASE, payload, false, fds);
        return receiveReplyTo(MessageType.SET_LOG_BASE.code()).u64();
    }

    @Override
    public void close() {
        connection.close();
    }
}
