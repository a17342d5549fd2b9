package dev.vublk.vhost;

import java.io.IOException;

/**
 * What a device behind the vhost-user protocol provides; the {@link BackendRequestHandler} owns
 * the protocol state and calls these.
 */
public interface VirtioDevice {
    /** Virtio feature bits offered (device and transport), without the vhost-user bit 30. */
    long features();

    /** Protocol feature bits this device supports. */
    long protocolFeatures();

    int queueCount();

    int maxQueueSize();

    /** The device's config space as it is now. */
    byte[] config();

    /** Applies a driver write to the config space; false when the write is not allowed. */
    boolean writeConfig(int offset, byte[] data);

    /** Feature bits by name, for the log line at connect. */
    default String featureNames(long features) {
        return "0x" + Long.toHexString(features);
    }

    /** The driver accepted these features (a subset of {@link #features()}). */
    void acknowledgeFeatures(long features);

    /** Starts serving a ring; the ring's state is read from {@code vring}. */
    void startQueue(Vring vring, GuestMemoryMap memory) throws IOException;

    /** Stops serving a ring after completing what is in flight; records last_avail_idx in the vring. */
    void stopQueue(Vring vring);

    /**
     * The channel for back-end-initiated requests (SET_BACKEND_REQ_FD), or null when the
     * connection has none any more; the handler closes a replaced channel.
     */
    default void backendChannel(BackendChannel channel) {}

    /** Everything returns to the state right after connecting; all queues are already stopped. */
    void reset();
}
