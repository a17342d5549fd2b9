package dev.vublk.vhost;

import dev.vublk.uring.EventFd;
import dev.vublk.uring.Fds;
import dev.vublk.uring.NativeException;

/**
 * The checks a request passes before its handler reads a byte of it: flags, payload size and
 * descriptor count against {@link MessageType}'s bounds, then the exact count a handler needs.
 * Every size a handler relies on is checked here, so decoding can never read past a payload.
 */
final class RequestChecks {
    static final int VRING_INDEX_MASK = 0xff, VRING_NOFD = 0x100;

    private RequestChecks() {}

    /** Flags, payload size and descriptor bounds of the request's type. */
    static void framing(Message m, MessageType type) throws Refused {
        int flags = m.header().flags();
        if ((flags & MessageHeader.REPLY) != 0) {
            throw new Refused("a request with the reply flag set");
        }
        if ((flags & ~MessageHeader.KNOWN_FLAGS) != 0) {
            throw new Refused("reserved flag bits 0x" + Integer.toHexString(flags & ~MessageHeader.KNOWN_FLAGS) + " set");
        }
        if (m.size() < type.minPayload() || m.size() > type.maxPayload()) {
            throw new Refused("payload of " + m.size() + " bytes, " + type + " takes "
                    + (type.minPayload() == type.maxPayload() ? type.minPayload() : type.minPayload() + " to " + type.maxPayload()));
        }
        if (m.fds().length > type.maxFds()) {
            throw new Refused(m.fds().length + " descriptors, " + type + " takes at most " + type.maxFds());
        }
    }

    static void fds(Message m, int expected) throws Refused {
        if (m.fds().length != expected) {
            throw new Refused(m.fds().length + " descriptors, expected " + expected);
        }
    }

    /**
     * The queue index of SET_VRING_KICK/CALL/ERR ({@code u64}: index in bits 0-7, bit 8 "no
     * descriptor", the rest reserved), after checking the descriptor count matches bit 8.
     */
    static int vringFdIndex(Message m) throws Refused {
        long u = m.payload().getLong(0);
        if ((u & ~(long) (VRING_INDEX_MASK | VRING_NOFD)) != 0) {
            throw new Refused("reserved bits set in 0x" + Long.toHexString(u));
        }
        fds(m, (u & VRING_NOFD) != 0 ? 0 : 1);
        return (int) (u & VRING_INDEX_MASK);
    }

    /** A kick, call or error descriptor must be an eventfd: anything else could block a thread on it. */
    static EventFd adoptEventFd(int fd) throws Refused {
        try {
            return EventFd.adopt(fd);
        } catch (NativeException e) {
            throw new Refused(e.getMessage());
        }
    }

    /** The message's descriptor, if it carries one, must be an eventfd (SET_VRING_CALL, SET_VRING_ERR). */
    static void eventFd(Message m) throws Refused {
        if (m.fds().length == 1) {
            try {
                EventFd.check(m.fds()[0]);
            } catch (NativeException e) {
                throw new Refused(e.getMessage());
            }
        }
    }

    /** A descriptor that must be a connected socket (SET_BACKEND_REQ_FD). */
    static void socket(int fd) throws Refused {
        try {
            String kind = Fds.describe(fd);
            if (!kind.startsWith("socket:")) {
                throw new Refused("descriptor " + fd + " is " + kind + ", not a socket");
            }
        } catch (NativeException e) {
            throw new Refused(e.getMessage());
        }
    }

    /** SET_VRING_ADDR: only the log flag is defined; rings are aligned as virtio 1.2 2.7 requires. */
    static void ringAddress(VringAddress a) throws Refused {
        if ((a.flags() & ~VringAddress.F_LOG) != 0) {
            throw new Refused("unknown ring address flags 0x" + Integer.toHexString(a.flags()));
        }
        if ((a.descriptors() & 15) != 0 || (a.available() & 1) != 0 || (a.used() & 3) != 0) {
            throw new Refused(String.format("misaligned ring: descriptors 0x%x (16), available 0x%x (2), used 0x%x (4)",
                    a.descriptors(), a.available(), a.used()));
        }
    }
}
