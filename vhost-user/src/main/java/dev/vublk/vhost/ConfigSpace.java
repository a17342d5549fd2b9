package dev.vublk.vhost;

import java.nio.ByteBuffer;

/** GET_CONFIG / SET_CONFIG payload: where in the device config space, and the bytes. */
public record ConfigSpace(int offset, int size, int flags, byte[] data) {
    /** SET_CONFIG flag: the write is part of live migration (cloud-hypervisor sets it; QEMU sends 0). */
    public static final int FLAG_MIGRATION = 1;

    /** Null when the declared size does not match the payload or exceeds the config space limit. */
    public static ConfigSpace decode(ByteBuffer b, int payloadSize) {
        if (payloadSize < Payloads.CONFIG_HEADER) {
            return null;
        }
        int offset = b.getInt(0);
        int size = b.getInt(4);
        int flags = b.getInt(8);
        if (size < 0 || size > Payloads.CONFIG_SPACE_MAX || payloadSize != Payloads.CONFIG_HEADER + size) {
            return null;
        }
        byte[] data = new byte[size];
        b.get(Payloads.CONFIG_HEADER, data);
        return new ConfigSpace(offset, size, flags, data);
    }

    public ByteBuffer encode() {
        ByteBuffer b = Payloads.allocate(Payloads.CONFIG_HEADER + data.length);
        b.putInt(0, offset).putInt(4, data.length).putInt(8, flags).put(Payloads.CONFIG_HEADER, data);
        return b;
    }
}
