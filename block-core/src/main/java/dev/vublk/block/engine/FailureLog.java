package dev.vublk.block.engine;

import dev.vublk.uring.Errno;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one log rule for failed requests of a queue: each at WARN, at most {@link #BURST} lines per
 * {@link #WINDOW_NANOS}, then a count of those left out, so a failing disk or a guest hammering
 * one cannot flood the log. Of failures for want of space (ENOSPC, EDQUOT) only the first of a
 * window is logged: a full disk fails every write alike, and held requests retried each second
 * would otherwise fill the burst with the same line.
 */
final class FailureLog {
    private static final Logger LOG = LoggerFactory.getLogger(QueueEngine.class);
    static final int BURST = 20;
    static final long WINDOW_NANOS = 10_000_000_000L;

    private final Path image;
    private long window;
    private int logged;
    private int suppressed;
    private boolean noSpaceLogged;

    FailureLog(Path image) {
        this.image = image;
    }

    void failed(Request.Op op, long offset, long length, int error) {
        long now = System.nanoTime();
        if (now - window > WINDOW_NANOS) {
            if (suppressed > 0) {
                LOG.warn("{}: {} more failed requests not logged", image, suppressed);
            }
            window = now;
            logged = 0;
            suppressed = 0;
            noSpaceLogged = false;
        }
        if (Errno.isNoSpace(error)) {
            if (noSpaceLogged) {
                suppressed++;
                return;
            }
            noSpaceLogged = true;
        }
        if (logged++ < BURST) {
            LOG.warn("{}: {} of {} bytes at offset {} failed: {}", image, op.name().toLowerCase().replace('_', '-'), length,
                    offset, Errno.name(-error));
        } else {
            suppressed++;
        }
    }
}
