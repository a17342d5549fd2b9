package dev.vublk.vhost;

import java.nio.ByteBuffer;

/** {@code VhostUserInflight}: the shared area that records requests in flight across reconnects. */
public record InflightDescriptor(long mmapSize, long mmapOffset, int numQueues, int queueSize) {
    public static final int WIRE_SIZE = 24;

    public static InflightDescriptor decode(ByteBuffer b) {
        return new InflightDescriptor(b.getLong(0), b.getLong(8), Short.toUnsignedInt(b.getShort(16)),
                Short.toUnsignedInt(b.getShort(18)));
    }

    public ByteBuffer encode() {
        return Payloads.allocate(WIRE_SIZE).putLong(0, mmapSize).putLong(8, mmapOffset)
                .putShort(16, (short) numQueues).putShort(18, (short) queueSize);
    }
}
