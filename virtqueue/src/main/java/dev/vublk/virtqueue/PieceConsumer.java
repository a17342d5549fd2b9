package dev.vublk.virtqueue;

/**
 * Receives the host-contiguous pieces of a guest range, e.g. to fill an iovec array
 * ({@code IoVecArray::add} has this shape). Implementations meant for the hot path should be
 * long-lived objects, not capturing lambdas created per request.
 */
@FunctionalInterface
public interface PieceConsumer {
    /**
     * @param hostAddress native address of the piece in this process
     * @param length      piece length in bytes, always &gt; 0
     * @return {@code true} to continue, {@code false} to stop (e.g. the iovec array is full)
     */
    boolean accept(long hostAddress, long length);
}
