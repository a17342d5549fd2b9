package dev.vublk.tests.frontend;

/** The backend answered a request with a non-zero ack (or an empty reply where data was due). */
public final class VhostUserRefused extends VhostUserException {
    private final long ack;

    public VhostUserRefused(String message, long ack) {
        super(message);
        this.ack = ack;
    }

    /** The ack value; -1 when the refusal was an empty reply to a GET_* request. */
    public long ack() {
        return ack;
    }
}
