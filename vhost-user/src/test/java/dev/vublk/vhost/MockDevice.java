package dev.vublk.vhost;

import static dev.vublk.vhost.ProtocolFeatures.bit;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** A device that only records what the handler asks of it; {@link #failStart} makes queue starts throw. */
final class MockDevice implements VirtioDevice {
    static final long PROTOCOL_FEATURES = bit(ProtocolFeatures.MQ) | bit(ProtocolFeatures.REPLY_ACK)
            | bit(ProtocolFeatures.CONFIG) | bit(ProtocolFeatures.CONFIGURE_MEM_SLOTS) | bit(ProtocolFeatures.BACKEND_REQ)
            | bit(ProtocolFeatures.INFLIGHT_SHMFD) | bit(ProtocolFeatures.LOG_SHMFD);
    static final int QUEUES = 2, MAX_QUEUE_SIZE = 256;

    final List<String> events = new ArrayList<>();
    volatile RuntimeException failStart;

    @Override public long features() { return bit(32) | bit(ProtocolFeatures.F_LOG_ALL); }

    @Override public long protocolFeatures() { return PROTOCOL_FEATURES; }

    @Override public int queueCount() { return QUEUES; }

    @Override public int maxQueueSize() { return MAX_QUEUE_SIZE; }

    @Override public byte[] config() { return new byte[60]; }

    @Override public boolean writeConfig(int offset, byte[] data) { return false; }

    @Override public void acknowledgeFeatures(long features) {}

    @Override
    public synchronized void startQueue(Vring vring, GuestMemoryMap memory) throws IOException {
        if (failStart != null) {
            throw failStart;
        }
        events.add("start " + vring.index() + (vring.inflight() != null ? " inflight" : ""));
    }

    @Override
    public synchronized void stopQueue(Vring vring) {
        events.add("stop " + vring.index());
    }

    @Override public void reset() {}

    /** The backend channel the handler handed over last (null once the connection ended). */
    volatile BackendChannel channel;

    @Override public void backendChannel(BackendChannel c) { channel = c; }

    synchronized List<String> events() {
        return List.copyOf(events);
    }
}
