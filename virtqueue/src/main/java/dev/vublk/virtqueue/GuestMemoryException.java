package dev.vublk.virtqueue;

/** A memory table from the frontend is unusable: overlapping, unaligned, too many regions, ... */
public final class GuestMemoryException extends Exception {
    private static final long serialVersionUID = 1L;

    public GuestMemoryException(String message) {
        super(message);
    }
}
