package dev.vublk.block.engine;

import dev.vublk.uring.Errno;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one log rule for failed requests of a queue: each at WARN, at most {@link #BURST} lines per
 * {@link #WINDOW_NANOS}, then a count of those left out, so a failing disk or a guest hammering
 * one cannot flood the log.
 */
final class FailureLog {
    private static final Logger LOG = LoggerFactory.getLogger(QueueEngine.class);
    static final int BURST = 20;
    static final long WINDOW_NANOS = 10_000_000_000L;

    private final Path image;
    private long window;
    private int logged;
    private int suppressed;

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
        }
        if (logged++ < BURST) {
            LOG.warn("{}: {} of {} bytes at offset {} failed: {}", image, op.name().toLowerCase().replace('_', '-'), length,
                    offset, Errno.name(-error));
        } else {
            suppressed++;
        }
    }
}
