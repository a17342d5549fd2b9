package dev.vublk.vhost.blk;

/** How a request completed, as the status byte told the guest (virtio 1.2, 5.2.6). */
public enum RequestStatus {
    OK("ok"), IOERR("ioerr"), UNSUPP("unsupp");

    private final String label;

    RequestStatus(String label) {
        this.label = label;
    }

    /** The name in query-stats and in metric labels. */
    public String label() {
        return label;
    }

    /** The status of a virtio-blk status byte; any value but OK and UNSUPP is an I/O error. */
    static RequestStatus of(byte status) {
        return switch (status) {
            case BlkRequestType.S_OK -> OK;
            case BlkRequestType.S_UNSUPP -> UNSUPP;
            default -> IOERR;
        };
    }
}
