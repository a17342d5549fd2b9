package dev.vublk.tests.frontend;

import dev.vublk.vhost.MessageHeader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** A message the backend sent back: its header, payload and any descriptors. */
public record Reply(MessageHeader header, byte[] payload, int[] fds) {
    public ByteBuffer buffer() {
        return ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The payload as a u64 (an ack or a GET_* value). */
    public long u64() {
        if (payload.length != 8) {
            throw new VhostUserException("reply to request " + header.request() + " carries " + payload.length
                    + " bytes, expected a u64");
        }
        return buffer().getLong(0);
    }
}
