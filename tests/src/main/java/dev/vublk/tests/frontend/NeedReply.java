package dev.vublk.tests.frontend;

import dev.vublk.vhost.MessageType;

/** Which requests a frontend flags NEED_REPLY on once REPLY_ACK is negotiated. */
public enum NeedReply {
    /** Never: the backend answers only what always replies. */
    NEVER,
    /** QEMU: memory table changes, SET_VRING_ENABLE, SET_CONFIG and the feature/owner setters. */
    QEMU,
    /** cloud-hypervisor (rust-vmm): every request that has no reply of its own. */
    ALL;

    boolean wants(MessageType type) {
        if (type.alwaysReplies()) {
            return false;
        }
        return switch (this) {
            case NEVER -> false;
            case ALL -> true;
            case QEMU -> switch (type) {
                case SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG, SET_VRING_ENABLE, SET_CONFIG, SET_FEATURES,
                     SET_PROTOCOL_FEATURES, SET_OWNER, SET_BACKEND_REQ_FD, RESET_DEVICE -> true;
                default -> false;
            };
        };
    }
}
