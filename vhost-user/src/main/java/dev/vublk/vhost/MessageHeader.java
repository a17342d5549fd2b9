package dev.vublk.vhost;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** The 12-byte header in front of every vhost-user message. */
public record MessageHeader(int request, int flags, int size) {
    public static final int SIZE = 12;
    public static final int VERSION = 0x1, VERSION_MASK = 0x3, REPLY = 0x4, NEED_REPLY = 0x8;
    /** Every other flag bit is reserved. */
    public static final int KNOWN_FLAGS = VERSION_MASK | REPLY | NEED_REPLY;

    public static MessageHeader decode(ByteBuffer b) {
        b.order(ByteOrder.LITTLE_ENDIAN);
        return new MessageHeader(b.getInt(0), b.getInt(4), b.getInt(8));
    }

    public void encode(ByteBuffer b) {
        b.order(ByteOrder.LITTLE_ENDIAN).putInt(0, request).putInt(4, flags).putInt(8, size);
    }

    public boolean needsReply() {
        return (flags & NEED_REPLY) != 0;
    }

    public boolean isReply() {
        return (flags & REPLY) != 0;
    }

    public int version() {
        return flags & VERSION_MASK;
    }

    /** The header of the reply to this request: QEMU insists the flags are exactly REPLY | version 1. */
    public MessageHeader reply(int payloadSize) {
        return new MessageHeader(request, REPLY | VERSION, payloadSize);
    }
}
