package dev.vublk.vhost;

import java.nio.ByteBuffer;

/**
 * {@code struct vhost_vring_addr}: where a ring's parts live, as front-end virtual addresses;
 * {@code log} is the used ring's guest physical address for dirty logging when flag bit 0 is set.
 */
public record VringAddress(int index, int flags, long descriptors, long used, long available, long log) {
    public static final int F_LOG = 1;

    public static VringAddress decode(ByteBuffer b) {
        return new VringAddress(b.getInt(0), b.getInt(4), b.getLong(8), b.getLong(16), b.getLong(24), b.getLong(32));
    }

    public ByteBuffer encode() {
        return Payloads.allocate(Payloads.VRING_ADDRESS).putInt(0, index).putInt(4, flags)
                .putLong(8, descriptors).putLong(16, used).putLong(24, available).putLong(32, log);
    }
}
