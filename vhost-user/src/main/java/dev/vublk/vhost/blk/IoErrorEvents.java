package dev.vublk.vhost.blk;

/**
 * One queue's side of the disk's {@link IoErrorListener}: a request held for space is told at
 * once (a queue starts holding once per episode), reported errors at most once per
 * {@link #GAP_NANOS}, so a guest writing to a full or failing disk cannot flood the control
 * socket's clients. Used by the queue thread only.
 */
final class IoErrorEvents {
    static final long GAP_NANOS = 1_000_000_000L;

    private final BlkDisk disk;
    private boolean reportedOnce;
    private long lastReported;

    IoErrorEvents(BlkDisk disk) {
        this.disk = disk;
    }

    /** A request of {@code type} failed with {@code errno} (0: refused before any I/O, not told). */
    void failed(int type, int errno, boolean held, long now) {
        IoErrorListener l = disk.ioErrorListener();
        if (l == null || errno == 0) {
            return;
        }
        if (!held) {
            if (reportedOnce && now - lastReported < GAP_NANOS) {
                return;
            }
            reportedOnce = true;
            lastReported = now;
        }
        l.ioError(type != BlkRequestType.IN, errno, held);
    }
}
