package dev.vublk.vhost.blk;

import java.time.Duration;

/**
 * What a queue does with a request that failed because the image's file system had no room
 * (ENOSPC, or EDQUOT: a quota): QEMU's {@code werror=report|enospc} of a disk.
 *
 * <ul>
 *   <li>{@link Action#REPORT}: the guest gets VIRTIO_BLK_S_IOERR at once (the default).
 *   <li>{@link Action#WAIT}: the request is held, still owned by the device, and started again
 *       every {@code retryInterval} until it gets through, or reported as an I/O error once it
 *       has waited {@code maxWait}; a guest file system is not remounted read-only by a disk
 *       that is full for a while. Only requests that change the disk (write, write-zeroes,
 *       discard, flush) are held; reads never fail for want of space.
 * </ul>
 *
 * @param retryInterval how often held requests are tried again
 * @param maxWait       how long a request is held at most before the guest hears of the error
 */
public record EnospcPolicy(Action action, Duration retryInterval, Duration maxWait) {
    public enum Action { REPORT, WAIT }

    /** How often held requests are retried: a freed disk is noticed within a second, at a few system calls per held request. */
    public static final Duration RETRY_INTERVAL = Duration.ofSeconds(1);
    /**
     * How long a request is held by default: well past a log rotation or a snapshot clean-up an
     * operator starts on seeing the warning, and below the guest's 120 s hung-task warning.
     */
    public static final Duration DEFAULT_MAX_WAIT = Duration.ofSeconds(60);
    public static final EnospcPolicy REPORT = new EnospcPolicy(Action.REPORT, RETRY_INTERVAL, DEFAULT_MAX_WAIT);

    public EnospcPolicy {
        if (retryInterval.isNegative() || retryInterval.isZero() || maxWait.isNegative()) {
            throw new IllegalArgumentException("retry interval " + retryInterval + " and maximum wait " + maxWait
                    + ": the interval must be positive and the wait not negative");
        }
    }

    /** Holds requests, retried every {@link #RETRY_INTERVAL}, for at most {@code maxWait}. */
    public static EnospcPolicy waitFor(Duration maxWait) {
        return new EnospcPolicy(Action.WAIT, RETRY_INTERVAL, maxWait);
    }

    /** For the start line: {@code report}, or {@code wait (retry every 1 s, at most 60 s)}. */
    public String describe() {
        return action == Action.REPORT ? "report"
                : "wait (retry every " + millisOrSeconds(retryInterval) + ", at most " + millisOrSeconds(maxWait) + ")";
    }

    private static String millisOrSeconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }
}
