package dev.vublk.vhost;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** One message as received: its header, its payload (little-endian) and the descriptors it carried. */
public record Message(MessageHeader header, ByteBuffer payload, int[] fds) {
    public Message {
        payload = payload.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The type, or null when the request code is unknown. */
    public MessageType type() {
        return MessageType.of(header.request());
    }

    public int size() {
        return header.size();
    }
}
