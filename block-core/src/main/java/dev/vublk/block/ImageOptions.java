package dev.vublk.block;

import java.time.Duration;

/**
 * How to open an image.
 *
 * @param readOnly        open without write access; writes fail
 * @param direct          O_DIRECT on data files, bypassing the host page cache
 * @param probeBacking    allow guessing a backing file's format from its content when the image
 *                        does not name it (off by default: a guest-written raw backing file could
 *                        otherwise pose as a qcow2 image pointing at any host file)
 * @param cacheBytes      metadata cache budget per image (0 = the format's default)
 * @param maxChainDepth   the most backing files / VHDX parents below the image, all formats counted
 * @param linkedFiles     which backing, external data and parent files an image may name
 * @param reconnectDelay  how long requests to network storage that went away wait for it to come
 *                        back before they fail with EIO
 * @param locking         take the byte-range locks QEMU takes on image files ({@link ImageLocks}),
 *                        so a second user of a file in use is refused; off only where another
 *                        tool coordinates access (network storage takes no file locks either way)
 */
public record ImageOptions(boolean readOnly, boolean direct, boolean probeBacking, long cacheBytes, int maxChainDepth,
                           LinkedFilePolicy linkedFiles, Duration reconnectDelay, boolean locking) {
    public static final int DEFAULT_MAX_CHAIN_DEPTH = 16;
    /** Long enough for a storage server's restart, short of a guest's own I/O timeouts (30 s in Linux's SCSI layer). */
    public static final Duration DEFAULT_RECONNECT_DELAY = Duration.ofSeconds(20);

    public ImageOptions(boolean readOnly, boolean direct, boolean probeBacking, long cacheBytes, int maxChainDepth,
                        LinkedFilePolicy linkedFiles, Duration reconnectDelay) {
        this(readOnly, direct, probeBacking, cacheBytes, maxChainDepth, linkedFiles, reconnectDelay, true);
    }

    public ImageOptions(boolean readOnly, boolean direct, boolean probeBacking, long cacheBytes, int maxChainDepth,
                        LinkedFilePolicy linkedFiles) {
        this(readOnly, direct, probeBacking, cacheBytes, maxChainDepth, linkedFiles, DEFAULT_RECONNECT_DELAY);
    }

    public ImageOptions(boolean readOnly, boolean direct, boolean probeBacking, long cacheBytes, int maxChainDepth) {
        this(readOnly, direct, probeBacking, cacheBytes, maxChainDepth, LinkedFilePolicy.ANY);
    }

    public static ImageOptions defaults() {
        return new ImageOptions(false, false, false, 0, DEFAULT_MAX_CHAIN_DEPTH);
    }

    public ImageOptions withReadOnly(boolean ro) {
        return new ImageOptions(ro, direct, probeBacking, cacheBytes, maxChainDepth, linkedFiles, reconnectDelay, locking);
    }

    public ImageOptions withDirect(boolean d) {
        return new ImageOptions(readOnly, d, probeBacking, cacheBytes, maxChainDepth, linkedFiles, reconnectDelay, locking);
    }

    public ImageOptions withLinkedFiles(LinkedFilePolicy policy) {
        return new ImageOptions(readOnly, direct, probeBacking, cacheBytes, maxChainDepth, policy, reconnectDelay, locking);
    }

    public ImageOptions withReconnectDelay(Duration delay) {
        if (delay.isNegative()) {
            throw new IllegalArgumentException("negative reconnect delay " + delay);
        }
        return new ImageOptions(readOnly, direct, probeBacking, cacheBytes, maxChainDepth, linkedFiles, delay, locking);
    }

    public ImageOptions withLocking(boolean lock) {
        return new ImageOptions(readOnly, direct, probeBacking, cacheBytes, maxChainDepth, linkedFiles, reconnectDelay, lock);
    }
}
