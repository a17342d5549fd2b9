package dev.vublk.vhost;

import java.nio.ByteBuffer;

/** {@code struct vhost_vring_state}: a queue index and a number (size, base, or enable flag). */
public record VringState(int index, int num) {
    public static VringState decode(ByteBuffer b) {
        return new VringState(b.getInt(0), b.getInt(4));
    }

    public ByteBuffer encode() {
        return Payloads.allocate(Payloads.VRING_STATE).putInt(0, index).putInt(4, num);
    }
}
