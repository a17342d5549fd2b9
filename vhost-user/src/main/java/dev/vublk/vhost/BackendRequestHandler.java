package dev.vublk.vhost;

import static dev.vublk.vhost.ProtocolFeatures.bit;
import static dev.vublk.vhost.ProtocolFeatures.has;

import dev.vublk.uring.EventFd;
import dev.vublk.uring.Fds;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.UnixSocket;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.function.ObjIntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The back-end side of one vhost-user connection: reads each front-end request, keeps the
 * protocol state (features, memory, rings) and drives the device. A request that is malformed
 * or not allowed now is refused with an error reply and a logged reason. Only a broken byte
 * stream, or an unexpected exception while handling a request (the state may then be
 * inconsistent), ends the connection; nothing thrown while serving it leaves {@link #run()}.
 */
public final class BackendRequestHandler {
    private static final Logger LOG = LoggerFactory.getLogger(BackendRequestHandler.class);
    private static final int VIRTIO_RING_F_EVENT_IDX = 29;

    private final Connection connection;
    private final VirtioDevice device;
    private final Vring[] vrings;
    private final GuestMemoryMap memory = new GuestMemoryMap();
    private long ackedFeatures;
    private long ackedProtocolFeatures;
    /** Whether the connect line (negotiated features, first queue) was logged for this connection. */
    private boolean announced;
    /** The channel of SET_BACKEND_REQ_FD, also held by the device (which sends on it); null until given. */
    private BackendChannel backendChannel;
    private InflightArea inflight;
    private DirtyLog dirtyLog;

    public BackendRequestHandler(Connection connection, VirtioDevice device) {
        this.connection = connection;
        this.device = device;
        this.vrings = new Vring[device.queueCount()];
        for (int i = 0; i < vrings.length; i++) {
            vrings[i] = new Vring(i);
        }
    }

    /** How a connection ended. */
    public enum Ending {
        /** The front-end closed it between messages. */
        PEER_CLOSED,
        /** The byte stream broke (framing, I/O error, end of stream inside a message). */
        BROKEN_STREAM,
        /** An unexpected exception while handling a request: the state was dropped with it. */
        FAILED
    }

    /**
     * Serves requests until the front-end disconnects or the connection must be dropped, then
     * stops every queue and unmaps memory. Never throws: the server listens again whatever happened.
     */
    public Ending run() {
        Message handling = null;
        try {
            for (Message m; (m = connection.receive()) != null; handling = null) {
                handling = m;
                handle(m);
            }
            return Ending.PEER_CLOSED;
        } catch (IOException e) {
            LOG.warn("dropping the connection: {}", e.getMessage());
            return Ending.BROKEN_STREAM;
        } catch (RuntimeException | Error e) {
            if (handling != null) {
                Fds.closeAllQuietly(handling.fds()); // what it carried and nothing owns yet
            }
            LOG.error("dropping the connection: {} failed unexpectedly",
                    handling == null ? "reading a request" : describeFully(handling), e);
            return Ending.FAILED;
        } finally {
            tearDown();
        }
    }

    /** Everything the connection holds goes, whatever state it was left in. */
    private void tearDown() {
        try {
            stopAll();
            device.reset();
        } finally {
            for (Vring v : vrings) {
                v.reset();
            }
            memory.close();
            closeInflight();
            replaceDirtyLog(null);
            replaceBackendChannel(null);
        }
    }

    private static String describe(Message m) {
        return m.type() != null ? m.type().toString() : "code " + Integer.toUnsignedString(m.header().request());
    }

    private static String describeFully(Message m) {
        return describe(m) + " (flags 0x" + Integer.toHexString(m.header().flags()) + ", " + m.size() + " bytes, "
                + m.fds().length + " descriptors)";
    }

    void handle(Message m) throws IOException {
        MessageType type = m.type();
        if (LOG.isTraceEnabled()) {
            LOG.trace("request {}", describeFully(m));
        }
        try {
            if (type == null) {
                throw new Refused("unknown request");
            }
            RequestChecks.framing(m, type);
            ByteBuffer reply = dispatch(type, m);
            if (reply != null) {
                connection.reply(m, reply);
            } else if (!type.alwaysReplies()) {
                ack(m, true);
            }
        } catch (Refused e) {
            closeFds(m);
            LOG.warn("refused {}: {}", describe(m), e.getMessage());
            if (type != null && type.alwaysReplies()) {
                connection.reply(m, ByteBuffer.allocate(0)); // an empty payload: the front-end sees a failure
            } else if (type == MessageType.SET_LOG_BASE && logShmfd()) {
                // QEMU waits for this reply whatever the flags, and reads no status from it: a
                // non-zero value is the best failure signal there is, and it must not hang.
                connection.reply(m, Payloads.u64(1));
            } else {
                ack(m, false);
            }
        }
    }

    private void ack(Message m, boolean ok) throws IOException {
        if (m.header().needsReply() && has(ackedProtocolFeatures, ProtocolFeatures.REPLY_ACK)) {
            connection.reply(m, Payloads.u64(ok ? 0 : 1));
        }
    }

    /**
     * Carries out one request whose framing {@link RequestChecks#framing} accepted; returns the
     * reply payload, or null where only an ack may follow.
     */
    private ByteBuffer dispatch(MessageType type, Message m) throws Refused, IOException {
        ByteBuffer p = m.payload();
        return switch (type) {
            case GET_FEATURES -> Payloads.u64(offeredFeatures());
            case SET_FEATURES -> {
                setFeatures(p.getLong(0));
                yield null;
            }
            case GET_PROTOCOL_FEATURES -> Payloads.u64(device.protocolFeatures());
            case SET_PROTOCOL_FEATURES -> {
                long requested = p.getLong(0);
                if ((requested & ~device.protocolFeatures()) != 0) {
                    throw new Refused("protocol features 0x" + Long.toHexString(requested & ~device.protocolFeatures())
                            + " were not offered");
                }
                ackedProtocolFeatures = requested;
                yield null;
            }
            case SET_OWNER -> null;
            case RESET_OWNER, RESET_DEVICE -> {
                stopAll();
                device.reset();
                announced = false;
                for (Vring v : vrings) {
                    v.reset();
                }
                ackedFeatures = 0;
                replaceDirtyLog(null);
                yield null;
            }
            case GET_QUEUE_NUM -> Payloads.u64(vrings.length);
            case GET_MAX_MEM_SLOTS -> Payloads.u64(ProtocolFeatures.MAX_MEM_SLOTS);
            case SET_MEM_TABLE -> {
                List<MemoryRegionDescriptor> regions = MemoryRegionDescriptor.decodeTable(p, m.size());
                if (regions == null) {
                    throw new Refused("memory table of " + m.size() + " bytes does not hold the region count it declares,"
                            + " 1 to " + Payloads.MAX_TABLE_REGIONS);
                }
                RequestChecks.fds(m, regions.size());
                try {
                    withRingsStopped(() -> memory.replaceAll(regions, m.fds()));
                } finally {
                    closeFds(m); // mappings keep the memory; the descriptors are not needed after mmap
                }
                yield null;
            }
            case ADD_MEM_REG -> {
                RequestChecks.fds(m, 1);
                MemoryRegionDescriptor region = MemoryRegionDescriptor.decodeSingle(p);
                try {
                    withRingsStopped(() -> memory.add(region, m.fds()[0]));
                } finally {
                    closeFds(m);
                }
                yield null;
            }
            case REM_MEM_REG -> {
                closeFds(m); // QEMU sends the region's fd along; it is not needed to remove it
                MemoryRegionDescriptor region = MemoryRegionDescriptor.decodeSingle(p);
                withRingsStopped(() -> memory.remove(region));
                yield null;
            }
            case SET_VRING_NUM -> {
                VringState s = VringState.decode(p);
                Vring v = stoppedVring(s.index());
                if (s.num() < 1 || s.num() > device.maxQueueSize() || Integer.bitCount(s.num()) != 1) {
                    throw new Refused("queue size " + s.num() + " is not a power of two up to " + device.maxQueueSize());
                }
                v.size(s.num());
                yield null;
            }
            case SET_VRING_ADDR -> {
                VringAddress a = VringAddress.decode(p);
                Vring v = vring(a.index());
                RequestChecks.ringAddress(a);
                if (v.running() && sameRing(v.address(), a)) {
                    // QEMU turns used-ring logging on and off (VringAddress.F_LOG) on running rings.
                    stop(v);
                    v.address(a);
                    startIfReady(v);
                } else {
                    stoppedVring(a.index()).address(a);
                }
                yield null;
            }
            case SET_VRING_BASE -> {
                VringState s = VringState.decode(p);
                if (s.num() < 0 || s.num() > 0xffff) {
                    throw new Refused("vring base " + s.num() + " is out of range");
                }
                stoppedVring(s.index()).base(s.num());
                yield null;
            }
            case GET_VRING_BASE -> {
                Vring v = vring(VringState.decode(p).index());
                stop(v);
                v.kick(null); // the ring is stopped until a new kick arrives
                yield new VringState(v.index(), v.base()).encode();
            }
            case SET_VRING_KICK -> {
                Vring v = vringForFd(m);
                EventFd kick = m.fds().length == 1 ? RequestChecks.adoptEventFd(m.fds()[0]) : null;
                ownFds(m);
                stop(v);
                v.kick(kick);
                startIfReady(v);
                yield null;
            }
            case SET_VRING_CALL -> {
                replaceSignalFd(m, Vring::callFd);
                yield null;
            }
            case SET_VRING_ERR -> {
                replaceSignalFd(m, Vring::errFd);
                yield null;
            }
            case SET_VRING_ENABLE -> {
                VringState s = VringState.decode(p);
                Vring v = vring(s.index());
                if (s.num() != 0 && s.num() != 1) {
                    throw new Refused("SET_VRING_ENABLE with " + s.num());
                }
                if (!has(ackedFeatures, ProtocolFeatures.F_PROTOCOL_FEATURES)) {
                    throw new Refused("SET_VRING_ENABLE before protocol features were negotiated");
                }
                v.enabled(s.num() == 1);
                if (v.enabled()) {
                    startIfReady(v);
                } else {
                    stop(v);
                }
                yield null;
            }
            case GET_CONFIG -> {
                ConfigSpace c = ConfigSpace.decode(p, m.size());
                if (c == null) {
                    throw new Refused("malformed GET_CONFIG");
                }
                byte[] space = device.config();
                if (c.offset() < 0 || c.offset() > space.length || c.size() > space.length - c.offset()) {
                    throw new Refused("config range " + c.offset() + "+" + c.size() + " is outside " + space.length + " bytes");
                }
                byte[] out = java.util.Arrays.copyOfRange(space, c.offset(), c.offset() + c.size());
                yield new ConfigSpace(c.offset(), c.size(), c.flags(), out).encode();
            }
            case SET_CONFIG -> {
                ConfigSpace c = ConfigSpace.decode(p, m.size());
                if (c == null) {
                    throw new Refused("malformed SET_CONFIG");
                }
                if (!device.writeConfig(c.offset(), c.data())) {
                    throw new Refused("config write of " + c.size() + " bytes at " + c.offset() + " is not allowed");
                }
                yield null;
            }
            case SET_BACKEND_REQ_FD -> {
                RequestChecks.fds(m, 1);
                RequestChecks.socket(m.fds()[0]);
                int fd = m.fds()[0];
                ownFds(m);
                try {
                    replaceBackendChannel(new BackendChannel(UnixSocket.adopt(fd), ackedProtocolFeatures,
                            BackendChannel.DEFAULT_TIMEOUT));
                } catch (NativeException e) {
                    throw new Refused("cannot use the backend channel: " + e.getMessage());
                }
                yield null;
            }
            case SET_LOG_BASE -> {
                RequestChecks.fds(m, 1);
                if (!logShmfd()) {
                    throw new Refused("LOG_SHMFD was not negotiated");
                }
                setLogBase(p.getLong(0), p.getLong(8), m);
                yield Payloads.u64(0); // with LOG_SHMFD the front-end always waits for a reply
            }
            case SET_LOG_FD -> throw new Refused("SET_LOG_FD is not supported: the log is polled by the front-end");
            case GET_INFLIGHT_FD -> {
                InflightDescriptor d = inflightDescriptor(m, 0);
                int[] fd = {-1};
                try {
                    InflightArea area = InflightArea.create(d.numQueues(), d.queueSize(), fd);
                    withRingsStopped(() -> replaceInflight(area));
                    connection.reply(m, new InflightDescriptor(InflightArea.bytes(d.numQueues(), d.queueSize()), 0,
                            d.numQueues(), d.queueSize()).encode(), fd[0]);
                } catch (dev.vublk.uring.NativeException e) {
                    throw new Refused("cannot create the inflight area: " + e.getMessage());
                } finally {
                    Fds.closeQuietly(fd[0]); // the mapping keeps the memory; the front-end has its copy
                }
                yield null; // answered above, with the descriptor
            }
            case SET_INFLIGHT_FD -> {
                InflightDescriptor d = inflightDescriptor(m, 1);
                try {
                    InflightArea area = InflightArea.map(m.fds()[0], d);
                    withRingsStopped(() -> replaceInflight(area));
                } catch (dev.vublk.uring.NativeException e) {
                    throw new Refused("cannot map the inflight area: " + e.getMessage());
                } finally {
                    closeFds(m);
                }
                yield null;
            }
            default -> throw new Refused(type + " is not supported by this back-end");
        };
    }

    /**
     * SET_VRING_CALL and SET_VRING_ERR. A running queue thread may be about to signal the old
     * descriptor (a call, or an error when it fails): it is stopped first, so the number is never
     * written after close, when it may already name another file; the ring restarts where it was.
     */
    private void replaceSignalFd(Message m, ObjIntConsumer<Vring> set) throws Refused {
        Vring v = vringForFd(m);
        RequestChecks.eventFd(m);
        boolean wasRunning = v.running();
        stop(v);
        set.accept(v, m.fds().length == 1 ? m.fds()[0] : -1);
        ownFds(m);
        if (wasRunning) {
            startIfReady(v);
        }
    }

    /**
     * The message's descriptors now belong to the back-end's state: error paths must not close
     * them. From here on the message's array holds only descriptors nobody else owns or closed.
     */
    /** The device sends on the new channel from now on; the old one is closed once no sender is inside. */
    private void replaceBackendChannel(BackendChannel channel) {
        BackendChannel old = backendChannel;
        backendChannel = channel;
        device.backendChannel(channel);
        if (old != null) {
            old.close();
        }
    }

    private static void ownFds(Message m) {
        java.util.Arrays.fill(m.fds(), -1);
    }

    private static void closeFds(Message m) {
        Fds.closeAllQuietly(m.fds());
        ownFds(m);
    }

    private InflightDescriptor inflightDescriptor(Message m, int fds) throws Refused {
        RequestChecks.fds(m, fds);
        if (!has(ackedProtocolFeatures, ProtocolFeatures.INFLIGHT_SHMFD)) {
            throw new Refused("INFLIGHT_SHMFD was not negotiated");
        }
        InflightDescriptor d = InflightDescriptor.decode(m.payload());
        if (d.numQueues() < 1 || d.numQueues() > vrings.length || d.queueSize() < 1
                || d.queueSize() > device.maxQueueSize() || Integer.bitCount(d.queueSize()) != 1) {
            throw new Refused("inflight area for " + d.numQueues() + " queues of " + d.queueSize() + " is out of range");
        }
        return d;
    }

    private boolean logShmfd() {
        return has(ackedProtocolFeatures, ProtocolFeatures.LOG_SHMFD);
    }

    /** SET_LOG_BASE: maps the new bitmap, then swaps it in while no queue thread runs. */
    private void setLogBase(long size, long offset, Message m) throws Refused, IOException {
        try {
            int fd = m.fds()[0];
            String problem = DirtyLog.fileProblem(fd, size, offset, guestEnd());
            if (problem != null) {
                throw new Refused(problem);
            }
            DirtyLog log = DirtyLog.map(fd, size, offset);
            withRingsStopped(() -> replaceDirtyLog(log));
            LOG.info("dirty log of {} bytes set: pages up to 0x{} are logged", size,
                    Long.toHexString(log.pages() << DirtyLog.PAGE_SHIFT));
        } catch (dev.vublk.uring.NativeException e) {
            throw new Refused("cannot map the dirty log: " + e.getMessage());
        } finally {
            closeFds(m); // the mapping keeps the bitmap
        }
    }

    private long guestEnd() {
        long end = 0;
        for (dev.vublk.virtqueue.GuestRegion r : memory.memory().regions()) {
            end = Math.max(end, r.guestEnd());
        }
        return end;
    }

    /** Only with every ring stopped, like {@link #replaceInflight}. */
    private void replaceDirtyLog(DirtyLog log) {
        if (dirtyLog != null) {
            dirtyLog.close();
        }
        dirtyLog = log;
    }

    /** Whether two addresses describe the same ring, whatever their logging fields say. */
    private static boolean sameRing(VringAddress a, VringAddress b) {
        return a != null && a.descriptors() == b.descriptors() && a.used() == b.used() && a.available() == b.available();
    }

    /** Only with every ring stopped: a queue thread must never touch an unmapped area. */
    private void replaceInflight(InflightArea area) {
        if (inflight != null) {
            inflight.close();
        }
        inflight = area;
    }

    /** On disconnect, after every ring has stopped. */
    private void closeInflight() {
        replaceInflight(null);
    }

    private long offeredFeatures() {
        return device.features() | bit(ProtocolFeatures.F_PROTOCOL_FEATURES);
    }

    private void setFeatures(long features) throws Refused {
        long unknown = features & ~offeredFeatures();
        if (unknown != 0) {
            throw new Refused("features 0x" + Long.toHexString(unknown) + " were not offered");
        }
        if (((features ^ ackedFeatures) & bit(ProtocolFeatures.F_LOG_ALL)) != 0) {
            // Migration starts and ends by toggling LOG_ALL on running rings; queue threads
            // read it when they start, so running ones restart at the same position.
            try {
                withRingsStopped(() -> applyFeatures(features));
            } catch (IOException e) {
                throw new Refused("cannot restart the rings: " + e.getMessage());
            }
            LOG.info("dirty logging of all guest writes turned {}", has(features, ProtocolFeatures.F_LOG_ALL) ? "on" : "off");
        } else {
            applyFeatures(features);
        }
    }

    private void applyFeatures(long features) {
        ackedFeatures = features;
        device.acknowledgeFeatures(features & ~bit(ProtocolFeatures.F_PROTOCOL_FEATURES));
        for (Vring v : vrings) {
            v.eventIdx(has(features, VIRTIO_RING_F_EVENT_IDX));
        }
    }

    private Vring vring(int index) throws Refused {
        if (index < 0 || index >= vrings.length) {
            throw new Refused("queue index " + index + " is out of range (" + vrings.length + " queues)");
        }
        return vrings[index];
    }

    /** A ring whose layout may be changed: only while the device is not using it. */
    private Vring stoppedVring(int index) throws Refused {
        Vring v = vring(index);
        if (v.running()) {
            throw new Refused("queue " + index + " is running");
        }
        return v;
    }

    private Vring vringForFd(Message m) throws Refused {
        return vring(RequestChecks.vringFdIndex(m));
    }

    /** A ring runs once it has memory, a layout and a kick, and is enabled (or cannot be disabled). */
    private void startIfReady(Vring v) throws Refused {
        boolean enabled = v.enabled() || !has(ackedFeatures, ProtocolFeatures.F_PROTOCOL_FEATURES);
        if (v.running() || !enabled || v.kick() == null || v.size() == 0 || v.address() == null || memory.isEmpty()) {
            return;
        }
        v.inflight(inflightQueue(v));
        v.dirtyLog(dirtyLog, has(ackedFeatures, ProtocolFeatures.F_LOG_ALL));
        try {
            device.startQueue(v, memory);
            v.running(true);
            if (!announced) {
                announced = true;
                LOG.info("front-end started the device: features {}, protocol features {}, {} memory region(s),"
                        + " queue {} of {} started first (size {})", device.featureNames(ackedFeatures),
                        ProtocolFeatures.names(ackedProtocolFeatures), memory.regionCount(), v.index(),
                        device.queueCount(), v.size());
            }
        } catch (IOException e) {
            throw new Refused("cannot start queue " + v.index() + ": " + e.getMessage());
        }
    }

    /**
     * The ring's part of the inflight area, or null. The area is the front-end's memfd: if it
     * truncated the file after we mapped it, the first read faults, and the JVM reports that
     * fault as an InternalError. Only this ring's start is refused then.
     */
    private InflightQueue inflightQueue(Vring v) throws Refused {
        if (inflight == null) {
            return null;
        }
        try {
            return inflight.queue(v.index(), v.size());
        } catch (InternalError e) {
            throw new Refused("the inflight area of queue " + v.index() + " cannot be read (" + e.getMessage()
                    + "): the front-end shrank its file");
        }
    }

    private void stop(Vring v) {
        if (v.running()) {
            device.stopQueue(v);
            v.running(false);
        }
    }

    private void stopAll() {
        for (Vring v : vrings) {
            stop(v);
        }
    }

    private interface SharedStateChange {
        void apply() throws IOException, Refused;
    }

    /**
     * Changes to what queue threads use (guest memory mappings, the inflight area) wait until no
     * queue thread can be using the old state: running queues are stopped (their in-flight
     * requests completed), the change is made, and they restart at the same ring position.
     */
    private void withRingsStopped(SharedStateChange change) throws Refused, IOException {
        boolean[] wasRunning = new boolean[vrings.length];
        for (Vring v : vrings) {
            wasRunning[v.index()] = v.running();
            stop(v);
        }
        try {
            change.apply();
        } finally {
            for (Vring v : vrings) {
                if (wasRunning[v.index()]) {
                    startIfReady(v);
                }
            }
        }
    }
}
