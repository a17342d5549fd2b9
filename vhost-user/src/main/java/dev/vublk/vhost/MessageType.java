package dev.vublk.vhost;

/**
 * Front-end requests (vhost-user.rst, "Front-end message types"), with the payload sizes and the
 * most descriptors each may carry: a request outside them is refused before any handler reads it.
 */
public enum MessageType {
    GET_FEATURES(1, 0, 0, 0),
    SET_FEATURES(2, 8, 8, 0),
    SET_OWNER(3, 0, 0, 0),
    RESET_OWNER(4, 0, 0, 0),
    SET_MEM_TABLE(5, 8, Payloads.MEM_TABLE_MAX, Payloads.MAX_TABLE_REGIONS),
    SET_LOG_BASE(6, 16, 16, 1),
    SET_LOG_FD(7, 0, 8, 1),
    SET_VRING_NUM(8, 8, 8, 0),
    SET_VRING_ADDR(9, 40, 40, 0),
    SET_VRING_BASE(10, 8, 8, 0),
    GET_VRING_BASE(11, 8, 8, 0),
    SET_VRING_KICK(12, 8, 8, 1),
    SET_VRING_CALL(13, 8, 8, 1),
    SET_VRING_ERR(14, 8, 8, 1),
    GET_PROTOCOL_FEATURES(15, 0, 0, 0),
    SET_PROTOCOL_FEATURES(16, 8, 8, 0),
    GET_QUEUE_NUM(17, 0, 0, 0),
    SET_VRING_ENABLE(18, 8, 8, 0),
    SEND_RARP(19, 8, 8, 0),
    NET_SET_MTU(20, 8, 8, 0),
    SET_BACKEND_REQ_FD(21, 0, 0, 1),
    IOTLB_MSG(22, 0, 64, 0),
    SET_VRING_ENDIAN(23, 8, 8, 0),
    GET_CONFIG(24, Payloads.CONFIG_HEADER, Payloads.CONFIG_MAX, 0),
    SET_CONFIG(25, Payloads.CONFIG_HEADER, Payloads.CONFIG_MAX, 0),
    GET_INFLIGHT_FD(31, Payloads.INFLIGHT_MIN, InflightDescriptor.WIRE_SIZE, 0),
    SET_INFLIGHT_FD(32, Payloads.INFLIGHT_MIN, InflightDescriptor.WIRE_SIZE, 1),
    RESET_DEVICE(34, 0, 0, 0),
    VRING_KICK(35, 8, 8, 0),
    GET_MAX_MEM_SLOTS(36, 0, 0, 0),
    ADD_MEM_REG(37, Payloads.SINGLE_REGION, Payloads.SINGLE_REGION, 1),
    REM_MEM_REG(38, Payloads.SINGLE_REGION, Payloads.SINGLE_REGION, 1),
    SET_STATUS(39, 8, 8, 0),
    GET_STATUS(40, 0, 0, 0);

    /** Payloads beyond this are never read, whatever the type: the connection is dropped. */
    public static final int MAX_PAYLOAD = 4096;

    private static final MessageType[] BY_CODE = new MessageType[64];

    static {
        for (MessageType t : values()) {
            BY_CODE[t.code] = t;
        }
    }

    private final int code;
    private final int minPayload;
    private final int maxPayload;
    private final int maxFds;

    MessageType(int code, int minPayload, int maxPayload, int maxFds) {
        this.code = code;
        this.minPayload = minPayload;
        this.maxPayload = maxPayload;
        this.maxFds = maxFds;
    }

    public int code() { return code; }

    public int minPayload() { return minPayload; }

    public int maxPayload() { return maxPayload; }

    /** The most descriptors the request may carry; handlers check the exact count they need. */
    public int maxFds() { return maxFds; }

    /** The type for a wire code, or null for codes this backend does not know. */
    public static MessageType of(int code) {
        return code > 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }

    /** Whether the back-end answers this request even without NEED_REPLY. */
    public boolean alwaysReplies() {
        return switch (this) {
            case GET_FEATURES, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM, GET_CONFIG, GET_VRING_BASE,
                 GET_MAX_MEM_SLOTS, GET_INFLIGHT_FD, GET_STATUS -> true;
            default -> false;
        };
    }
}
