package dev.vublk.vhost.blk;

/**
 * Hears of requests the disk failed with an I/O error (not those refused before any I/O, such
 * as a range past the end): what QEMU reports as {@code BLOCK_IO_ERROR}. Called on queue
 * threads, at most once per second per queue for reported errors (a failing disk fails every
 * request alike), so it must return at once and never block.
 */
@FunctionalInterface
public interface IoErrorListener {
    /**
     * @param write whether the request changes the disk (write, flush, discard, write-zeroes), else a read
     * @param errno the negative errno
     * @param held  whether the request is held until the disk has space ({@code --on-enospc wait},
     *              QEMU's action {@code stop}), else the guest got the error ({@code report})
     */
    void ioError(boolean write, int errno, boolean held);
}
