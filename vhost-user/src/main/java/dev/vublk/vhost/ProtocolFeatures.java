package dev.vublk.vhost;

/** vhost-user protocol feature bits (GET/SET_PROTOCOL_FEATURES) and the transport feature bits. */
public final class ProtocolFeatures {
    public static final int MQ = 0, LOG_SHMFD = 1, RARP = 2, REPLY_ACK = 3, MTU = 4, BACKEND_REQ = 5,
            CROSS_ENDIAN = 6, CRYPTO_SESSION = 7, PAGEFAULT = 8, CONFIG = 9, BACKEND_SEND_FD = 10,
            HOST_NOTIFIER = 11, INFLIGHT_SHMFD = 12, RESET_DEVICE = 13, INBAND_NOTIFICATIONS = 14,
            CONFIGURE_MEM_SLOTS = 15, STATUS = 16;

    /** Virtio feature bit 30: the back-end speaks the protocol-feature extension. */
    public static final int F_PROTOCOL_FEATURES = 30;
    /** Virtio feature bit 26: log all guest writes for migration. */
    public static final int F_LOG_ALL = 26;

    /** QEMU and rust-vmm agree on this many memory slots. */
    public static final int MAX_MEM_SLOTS = 509;

    private ProtocolFeatures() {}

    public static long bit(int b) {
        return 1L << b;
    }

    public static boolean has(long features, int b) {
        return (features & bit(b)) != 0;
    }

    private static final String[] NAMES = {"MQ", "LOG_SHMFD", "RARP", "REPLY_ACK", "MTU", "BACKEND_REQ",
        "CROSS_ENDIAN", "CRYPTO_SESSION", "PAGEFAULT", "CONFIG", "BACKEND_SEND_FD", "HOST_NOTIFIER",
        "INFLIGHT_SHMFD", "RESET_DEVICE", "INBAND_NOTIFICATIONS", "CONFIGURE_MEM_SLOTS", "STATUS"};

    /** The protocol feature bits set in {@code features}, by name ("bit N" for unknown ones), for logs. */
    public static String names(long features) {
        return BitNames.of(features, NAMES);
    }
}
