package dev.vublk.vhost;

/**
 * Front-end requests (vhost-user.rst, "Front-end message types"), with the largest payload
 * each may carry: anything longer is malformed and refused before it is read into a buffer.
 */
public enum MessageType {
    GET_FEATURES(1, 0),
    SET_FEATURES(2, 8),
    SET_OWNER(3, 0),
    RESET_OWNER(4, 0),
    SET_MEM_TABLE(5, Payloads.MEM_TABLE_MAX),
    SET_LOG_BASE(6, 16),
    SET_LOG_FD(7, 8),
    SET_VRING_NUM(8, 8),
    SET_VRING_ADDR(9, 40),
    SET_VRING_BASE(10, 8),
    GET_VRING_BASE(11, 8),
    SET_VRING_KICK(12, 8),
    SET_VRING_CALL(13, 8),
    SET_VRING_ERR(14, 8),
    GET_PROTOCOL_FEATURES(15, 0),
    SET_PROTOCOL_FEATURES(16, 8),
    GET_QUEUE_NUM(17, 0),
    SET_VRING_ENABLE(18, 8),
    SEND_RARP(19, 8),
    NET_SET_MTU(20, 8),
    SET_BACKEND_REQ_FD(21, 0),
    IOTLB_MSG(22, 64),
    SET_VRING_ENDIAN(23, 8),
    GET_CONFIG(24, Payloads.CONFIG_MAX),
    SET_CONFIG(25, Payloads.CONFIG_MAX),
    GET_INFLIGHT_FD(31, 24),
    SET_INFLIGHT_FD(32, 24),
    RESET_DEVICE(34, 0),
    VRING_KICK(35, 8),
    GET_MAX_MEM_SLOTS(36, 0),
    ADD_MEM_REG(37, 40),
    REM_MEM_REG(38, 40),
    SET_STATUS(39, 8),
    GET_STATUS(40, 0);

    /** Payloads beyond this are never read, whatever the type: the connection is dropped. */
    public static final int MAX_PAYLOAD = 4096;

    private static final MessageType[] BY_CODE = new MessageType[64];

    static {
        for (MessageType t : values()) {
            BY_CODE[t.code] = t;
        }
    }

    private final int code;
    private final int maxPayload;

    MessageType(int code, int maxPayload) {
        this.code = code;
        this.maxPayload = maxPayload;
    }

    public int code() { return code; }

    public int maxPayload() { return maxPayload; }

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
