package dev.vublk.tests.frontend;

/** Whose message order a frontend replays (see notes/frontends.md). */
public enum FrontendStyle {
    /**
     * QEMU vhost-user-blk-pci: realize (features, protocol features, queue num, mem slots,
     * backend channel, owner, call/err fds, config), then start (features, call fds, memory via
     * ADD_MEM_REG when CONFIGURE_MEM_SLOTS, else SET_MEM_TABLE; per queue num/base/addr/kick; enable).
     */
    QEMU(NeedReply.QEMU),
    /**
     * cloud-hypervisor: owner first, features, protocol features, queue num, config; then
     * features, SET_MEM_TABLE, all SET_VRING_NUM first, per queue addr/base/call/kick, enable all;
     * NEED_REPLY on every request.
     */
    CLOUD_HYPERVISOR(NeedReply.ALL);

    private final NeedReply needReply;

    FrontendStyle(NeedReply needReply) {
        this.needReply = needReply;
    }

    public NeedReply needReply() {
        return needReply;
    }
}
