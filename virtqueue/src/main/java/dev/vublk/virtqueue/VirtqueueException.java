package dev.vublk.virtqueue;

/** A virtqueue cannot be set up as the frontend described it (bad size, ring outside memory, ...). */
public final class VirtqueueException extends Exception {
    private static final long serialVersionUID = 1L;

    public VirtqueueException(String message) {
        super(message);
    }
}
