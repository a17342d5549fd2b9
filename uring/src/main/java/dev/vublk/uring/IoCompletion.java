package dev.vublk.uring;

/**
 * Receives one finished {@link IoUring} operation. {@code result} is the byte count for reads
 * and writes (whole, or less only at end of file), 0 for other operations, or a negative errno.
 */
@FunctionalInterface
public interface IoCompletion {
    void complete(long tag, int result);
}
