package dev.vublk.tests.frontend;

import static dev.vublk.vhost.ProtocolFeatures.bit;
import static dev.vublk.vhost.ProtocolFeatures.has;

import dev.vublk.uring.EventFd;
import dev.vublk.uring.NativeException;
import dev.vublk.vhost.MessageHeader;
import dev.vublk.vhost.ProtocolFeatures;
import dev.vublk.vhost.blk.BlkFeatures;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A test VMM with one vhost-user-blk device: guest RAM, one {@link BlkQueueDriver} per queue, and
 * a {@link VhostUserClient} that brings the device up in QEMU's or cloud-hypervisor's order. Guest
 * RAM and rings outlive the connection, so {@link #reconnect()} resumes the rings where
 * {@link #stop()} left them, like a VMM reconnecting to a restarted backend.
 */
public final class VhostUserBlkFrontend implements AutoCloseable {
    /** Virtio features a Linux guest driver would accept (intersected with the offer). */
    public static final long DRIVER_FEATURES = bit(BlkFeatures.VERSION_1) | bit(ProtocolFeatures.F_PROTOCOL_FEATURES)
            | bit(BlkFeatures.RING_INDIRECT_DESC) | bit(BlkFeatures.SIZE_MAX) | bit(BlkFeatures.SEG_MAX)
            | bit(BlkFeatures.BLK_SIZE) | bit(BlkFeatures.TOPOLOGY) | bit(BlkFeatures.FLUSH) | bit(BlkFeatures.CONFIG_WCE)
            | bit(BlkFeatures.MQ) | bit(BlkFeatures.RO) | bit(BlkFeatures.DISCARD) | bit(BlkFeatures.WRITE_ZEROES);

    private final Path socketPath;
    private final FrontendOptions options;
    private final GuestRam ram;
    private final List<BlkQueueDriver> queues = new ArrayList<>();
    private final List<EventFd> errFds = new ArrayList<>();
    private VhostUserClient client;
    private SocketPair backendChannel;
    private int configChanges;
    /** VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, a back-end request. */
    private static final int CONFIG_CHANGE_MSG = 2;
    private long offeredFeatures;
    private long offeredProtocolFeatures;
    private long features;
    private byte[] config;
    private int[] bases;
    private VhostUserClient.Inflight inflight;
    private dev.vublk.uring.MappedRegion inflightMap;
    private int logFd = -1;
    private dev.vublk.uring.MappedRegion logMap;
    /** Regions the backend holds on this connection (ADD_MEM_REG): like QEMU's shadow table, only differences are sent. */
    private final java.util.Set<RamRegion> sentRegions = new java.util.HashSet<>();

    private VhostUserBlkFrontend(Path socketPath, FrontendOptions options) throws IOException {
        this.socketPath = socketPath;
        this.options = options;
        this.ram = GuestRam.of(options.regionSizes());
        try {
            for (int i = 0; i < options.numQueues(); i++) {
                VirtqueueDriver vq = VirtqueueDriver.create(ram, 0, i, options.queueSize(), options.eventIdx());
                queues.add(new BlkQueueDriver(vq, ram, 0).timeout(options.timeout()));
            }
            this.bases = new int[options.numQueues()];
            connectClient();
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Connects and runs no request yet: the caller drives {@link #client()} (or {@link #realize()}/{@link #start()}). */
    public static VhostUserBlkFrontend connect(Path socketPath, FrontendOptions options) throws IOException {
        return new VhostUserBlkFrontend(socketPath, options);
    }

    /** Connects, realizes and starts every queue. */
    public static VhostUserBlkFrontend open(Path socketPath, FrontendOptions options) throws IOException {
        VhostUserBlkFrontend f = new VhostUserBlkFrontend(socketPath, options);
        try {
            f.realize();
            f.start();
            return f;
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    private void connectClient() throws IOException {
        client = VhostUserClient.connect(socketPath, options.timeout());
        client.needReply(options.style().needReply()).timeout(options.timeout());
    }

    public VhostUserClient client() { return client; }

    public GuestRam ram() { return ram; }

    public FrontendOptions options() { return options; }

    public BlkQueueDriver queue(int i) { return queues.get(i); }

    public int queueCount() { return queues.size(); }

    /** Features acknowledged with SET_FEATURES. */
    public long features() { return features; }

    public long offeredFeatures() { return offeredFeatures; }

    public long offeredProtocolFeatures() { return offeredProtocolFeatures; }

    /** The config bytes read during realize. */
    public byte[] config() { return config; }

    public BlkConfigView configView() { return BlkConfigView.decode(config); }

    /** The err eventfd given with SET_VRING_ERR for queue {@code index} (QEMU-style realize only). */
    public EventFd errFd(int index) { return errFds.get(index); }

    private long wantedProtocolFeatures() {
        long want = bit(ProtocolFeatures.MQ) | bit(ProtocolFeatures.REPLY_ACK) | bit(ProtocolFeatures.CONFIG)
                | bit(ProtocolFeatures.RESET_DEVICE);
        if (options.inflight()) {
            want |= bit(ProtocolFeatures.INFLIGHT_SHMFD);
        }
        if (options.dirtyLog()) {
            want |= bit(ProtocolFeatures.LOG_SHMFD);
        }
        if (options.style() == FrontendStyle.QEMU) {
            want |= bit(ProtocolFeatures.BACKEND_REQ);
            if (options.memSlots()) {
                want |= bit(ProtocolFeatures.CONFIGURE_MEM_SLOTS);
            }
        }
        return want;
    }

    private long driverFeatures() {
        long want = DRIVER_FEATURES | (options.eventIdx() ? bit(BlkFeatures.RING_EVENT_IDX) : 0);
        return offeredFeatures & want;
    }

    /** The device-probe half of the sequence (QEMU realize / cloud-hypervisor boot). */
    public void realize() throws IOException {
        if (options.style() == FrontendStyle.QEMU) {
            offeredFeatures = client.getFeatures();
            requireProtocolFeatures();
            negotiateProtocolFeatures();
            checkQueueNum();
            if (has(client.protocolFeatures(), ProtocolFeatures.CONFIGURE_MEM_SLOTS)) {
                long slots = client.getMaxMemSlots();
                if (slots < ram.regions().size()) {
                    throw new VhostUserException("backend offers " + slots + " memory slots");
                }
            }
            if (has(client.protocolFeatures(), ProtocolFeatures.BACKEND_REQ)) {
                backendChannel = SocketPair.create();
                client.setBackendReqFd(backendChannel.theirs().fd());
            }
            client.setOwner();
            offeredFeatures = client.getFeatures();
            for (BlkQueueDriver q : queues) {
                client.setVringCall(q.virtqueue().index(), q.virtqueue().callFd());
                EventFd err = EventFd.create(EventFd.EFD_NONBLOCK); // tests poll it (errFd)
                errFds.add(err);
                client.setVringErr(q.virtqueue().index(), err.fd());
            }
            config = client.getConfig(0, BlkConfigView.SIZE, 0).data();
        } else {
            client.setOwner();
            offeredFeatures = client.getFeatures();
            requireProtocolFeatures();
            negotiateProtocolFeatures();
            checkQueueNum();
            config = client.getConfig(0, BlkConfigView.SIZE, 0).data();
        }
    }

    private void requireProtocolFeatures() {
        if (!has(offeredFeatures, ProtocolFeatures.F_PROTOCOL_FEATURES)) {
            throw new VhostUserException("backend does not offer VHOST_USER_F_PROTOCOL_FEATURES");
        }
        offeredProtocolFeatures = client.getProtocolFeatures();
    }

    private void negotiateProtocolFeatures() {
        client.setProtocolFeatures(offeredProtocolFeatures & wantedProtocolFeatures());
    }

    private void checkQueueNum() {
        if (has(client.protocolFeatures(), ProtocolFeatures.MQ)) {
            long n = client.getQueueNum();
            if (n < queues.size()) {
                throw new VhostUserException("backend has " + n + " queues, " + queues.size() + " wanted");
            }
        }
    }

    /** The driver-OK half: features, memory, rings, enable. */
    public void start() {
        features = driverFeatures();
        if (options.style() == FrontendStyle.QEMU) {
            client.setFeatures(features);
            shareInflight();
            for (BlkQueueDriver q : queues) {
                client.setVringCall(q.virtqueue().index(), q.virtqueue().callFd());
            }
            client.setFeatures(features);
            sendMemory();
            for (BlkQueueDriver q : queues) {
                VirtqueueDriver vq = q.virtqueue();
                client.setVringNum(vq.index(), vq.size());
                client.setVringBase(vq.index(), bases[vq.index()]);
                client.setVringAddr(vq.address());
                client.setVringKick(vq.index(), vq.kickFd());
            }
        } else {
            client.setFeatures(features);
            client.setMemTable(ram.regions());
            for (BlkQueueDriver q : queues) {
                client.setVringNum(q.virtqueue().index(), q.virtqueue().size());
            }
            for (BlkQueueDriver q : queues) {
                VirtqueueDriver vq = q.virtqueue();
                client.setVringAddr(vq.address());
                client.setVringBase(vq.index(), bases[vq.index()]);
                client.setVringCall(vq.index(), vq.callFd());
                client.setVringKick(vq.index(), vq.kickFd());
            }
        }
        for (BlkQueueDriver q : queues) {
            client.setVringEnable(q.virtqueue().index(), true);
        }
    }

    /** GET_INFLIGHT_FD the first time only; the same area is handed to every later backend. */
    private void shareInflight() {
        if (!has(client.protocolFeatures(), ProtocolFeatures.INFLIGHT_SHMFD)) {
            return;
        }
        if (inflight == null) {
            inflight = client.getInflightFd(queues.size(), options.queueSize());
            try {
                inflightMap = dev.vublk.uring.MappedRegion.map(inflight.fd(), inflight.descriptor().mmapOffset(),
                        inflight.descriptor().mmapSize(), true);
            } catch (dev.vublk.uring.NativeException e) {
                throw new VhostUserException("cannot map the inflight area: " + e.getMessage(), e);
            }
        }
        client.setInflightFd(inflight);
    }

    /** The inflight area as this frontend maps it (null until negotiated): tests stage crashes in it. */
    public java.lang.foreign.MemorySegment inflightArea() {
        return inflightMap == null ? null : inflightMap.segment();
    }

    private void sendMemory() {
        if (has(client.protocolFeatures(), ProtocolFeatures.CONFIGURE_MEM_SLOTS)) {
            for (RamRegion r : ram.regions()) {
                if (sentRegions.add(r)) {
                    client.addMemReg(r);
                }
            }
        } else {
            client.setMemTable(ram.regions());
        }
    }

    /**
     * Waits (at most the options' timeout) for the backend's CONFIG_CHANGE_MSG on the channel
     * given with SET_BACKEND_REQ_FD, and answers it as QEMU does: GET_CONFIG on the main channel
     * first (the backend must serve it while it waits for the ack), then the ack when asked for.
     *
     * @return the config space read after the change
     */
    public BlkConfigView awaitConfigChange() throws IOException {
        if (backendChannel == null) {
            throw new VhostUserException("no backend channel was given (BACKEND_REQ not negotiated)");
        }
        dev.vublk.uring.UnixSocket s = backendChannel.ours();
        s.setTimeouts(options.timeout());
        java.lang.foreign.MemorySegment buf = java.lang.foreign.Arena.ofAuto().allocate(MessageHeader.SIZE + 8, 8);
        s.receiveFully(buf, MessageHeader.SIZE);
        MessageHeader h = MessageHeader.decode(buf.asSlice(0, MessageHeader.SIZE).asByteBuffer());
        if (h.request() != CONFIG_CHANGE_MSG || h.size() != 0 || h.version() != MessageHeader.VERSION || h.isReply()) {
            throw new VhostUserException("backend channel: expected CONFIG_CHANGE_MSG, got " + h);
        }
        configChanges++;
        config = client.getConfig(0, BlkConfigView.SIZE, 0).data();
        if (h.needsReply()) {
            new MessageHeader(h.request(), MessageHeader.REPLY | MessageHeader.VERSION, 8)
                    .encode(buf.asSlice(0, MessageHeader.SIZE).asByteBuffer());
            buf.asSlice(MessageHeader.SIZE, 8).fill((byte) 0); // status 0: done
            s.send(buf, buf.byteSize());
        }
        return configView();
    }

    /** How many CONFIG_CHANGE_MSGs {@link #awaitConfigChange()} has taken on this frontend. */
    public int configChanges() { return configChanges; }

    /** QEMU's stop: disable every ring, then GET_VRING_BASE; returns (and remembers) the bases. */
    public int[] stop() {
        for (BlkQueueDriver q : queues) {
            client.setVringEnable(q.virtqueue().index(), false);
        }
        for (BlkQueueDriver q : queues) {
            bases[q.virtqueue().index()] = client.getVringBase(q.virtqueue().index());
        }
        return bases.clone();
    }

    /** Drops the connection (guest RAM and rings stay). */
    public void disconnect() {
        closeConnection();
    }

    /**
     * Connects again and replays the whole sequence (cloud-hypervisor's reconnect skips
     * GET_QUEUE_NUM and GET_CONFIG); rings resume at the bases {@link #stop()} returned.
     */
    public void reconnect() throws IOException {
        closeConnection();
        connectClient();
        if (options.style() == FrontendStyle.CLOUD_HYPERVISOR) {
            client.setOwner();
            offeredFeatures = client.getFeatures();
            client.setProtocolFeatures(offeredProtocolFeatures & wantedProtocolFeatures());
        } else {
            errFds.forEach(EventFd::close);
            errFds.clear();
            realize();
        }
        start();
    }

    /**
     * Migration's first step (QEMU's order): a memfd bitmap covering all guest RAM, one bit per
     * 4 KiB page, given with SET_LOG_BASE. Returns this frontend's mapping of it.
     */
    public java.lang.foreign.MemorySegment setDirtyLog() {
        long end = 0;
        for (RamRegion r : ram.regions()) {
            end = Math.max(end, r.guestEnd());
        }
        long bytes = (((end + 4095) >>> 12) + 63) / 64 * 8;
        try {
            int fd = dev.vublk.uring.MemFd.create("dirty-log", bytes);
            dev.vublk.uring.MappedRegion map = dev.vublk.uring.MappedRegion.map(fd, 0, bytes, true);
            closeDirtyLog();
            logFd = fd;
            logMap = map;
        } catch (dev.vublk.uring.NativeException e) {
            throw new VhostUserException("cannot create the dirty log: " + e.getMessage(), e);
        }
        client.setLogBase(bytes, 0, logFd);
        return logMap.segment();
    }

    /** The bitmap {@link #setDirtyLog()} shared, or null. */
    public java.lang.foreign.MemorySegment dirtyLog() {
        return logMap == null ? null : logMap.segment();
    }

    /**
     * Starts (or ends) logging like QEMU's vhost_dev_set_log: SET_FEATURES with (without)
     * VHOST_F_LOG_ALL, then SET_VRING_ADDR of every ring with (without) VHOST_VRING_F_LOG, all
     * while the rings run.
     */
    public void logAll(boolean on) {
        long f = on ? features | bit(ProtocolFeatures.F_LOG_ALL) : features;
        client.setFeatures(f);
        for (BlkQueueDriver q : queues) {
            if (on && client.replyAck()) {
                // QEMU waits for the ack when it turns used-ring logging on, not when it turns it off.
                Reply r = client.exchange(dev.vublk.vhost.MessageType.SET_VRING_ADDR, q.virtqueue().address(true).encode(), true);
                if (r.u64() != 0) {
                    throw new VhostUserRefused("SET_VRING_ADDR with the log flag refused", r.u64());
                }
            } else {
                client.setVringAddr(q.virtqueue().address(on));
            }
        }
    }

    private void closeDirtyLog() {
        if (logMap != null) {
            logMap.close();
            logMap = null;
        }
        dev.vublk.uring.Fds.closeQuietly(logFd);
        logFd = -1;
    }

    /** ADD_MEM_REG of a region, remembered as held by the backend. */
    public void addRegion(RamRegion r) {
        client.addMemReg(r);
        sentRegions.add(r);
    }

    /** REM_MEM_REG of a region. */
    public void removeRegion(RamRegion r) {
        client.remMemReg(r);
        sentRegions.remove(r);
    }

    /** Sets where each ring resumes on the next {@link #start()}. */
    public void bases(int[] b) {
        System.arraycopy(b, 0, bases, 0, bases.length);
    }

    private void closeConnection() {
        sentRegions.clear();
        if (client != null) {
            client.close();
            client = null;
        }
        if (backendChannel != null) {
            backendChannel.close();
            backendChannel = null;
        }
    }

    @Override
    public void close() {
        closeConnection();
        errFds.forEach(EventFd::close);
        errFds.clear();
        if (inflight != null) {
            inflightMap.close();
            dev.vublk.uring.Fds.closeQuietly(inflight.fd());
            inflight = null;
        }
        closeDirtyLog();
        for (BlkQueueDriver q : queues) {
            q.close();
        }
        queues.clear();
        ram.close();
    }
}
