package dev.vublk.vhost.blk;

/**
 * The I/O limits of one disk in force, shared by all its queues: a {@link LeakyBucket} per
 * limited quantity. A read is checked against the total and the read buckets of operations and
 * bytes, a write against the total and the write ones; it may start when none of them is over
 * its size, and is then charged to each (QEMU's order: check, then account). Other requests
 * (flush, get-id, discard, write-zeroes) are not limited, as in QEMU.
 *
 * <p>One is made per {@link BlkDisk#setLimits} call, with every level empty (as QEMU's
 * {@code throttle_config} does), and none at all without limits: an unlimited disk costs a
 * queue one volatile read of {@link BlkDisk#throttle()} per request. Queues check and charge
 * under this object's lock, a few arithmetic operations long.
 */
final class Throttle {
    static final int READ = 1;
    static final int WRITE = 2;

    /** Indexed by 0 (total), {@link #READ}, {@link #WRITE}; null where unlimited. */
    private final LeakyBucket[] ops = new LeakyBucket[3];
    private final LeakyBucket[] bytes = new LeakyBucket[3];

    /** A throttle for {@code limits}, or null when it limits nothing. */
    static Throttle of(IoLimits limits, long now) {
        return limits.limited() ? new Throttle(limits, now) : null;
    }

    private Throttle(IoLimits l, long now) {
        ops[0] = bucket(l.iops(), l.iopsMax(), l.iopsMaxLength(), now);
        ops[READ] = bucket(l.iopsRd(), l.iopsRdMax(), l.iopsRdMaxLength(), now);
        ops[WRITE] = bucket(l.iopsWr(), l.iopsWrMax(), l.iopsWrMaxLength(), now);
        bytes[0] = bucket(l.bps(), l.bpsMax(), l.bpsMaxLength(), now);
        bytes[READ] = bucket(l.bpsRd(), l.bpsRdMax(), l.bpsRdMaxLength(), now);
        bytes[WRITE] = bucket(l.bpsWr(), l.bpsWrMax(), l.bpsWrMaxLength(), now);
    }

    private static LeakyBucket bucket(long rate, long max, long maxLength, long now) {
        return rate == 0 ? null : new LeakyBucket(rate, max, maxLength, now);
    }

    /**
     * Asks whether a {@link #READ} or {@link #WRITE} of {@code byteCount} bytes may start at
     * {@code now} (nanoseconds, the caller's monotonic clock) and charges it if so.
     *
     * @return 0 when it may start (it is charged), else the nanoseconds until it may (nothing charged)
     */
    synchronized long admit(int direction, long byteCount, long now) {
        if (direction != READ && direction != WRITE) {
            throw new IllegalArgumentException("direction " + direction);
        }
        long wait = Math.max(Math.max(waitNanos(ops[0], now), waitNanos(ops[direction], now)),
                Math.max(waitNanos(bytes[0], now), waitNanos(bytes[direction], now)));
        if (wait > 0) {
            return wait;
        }
        charge(ops[0], 1, now);
        charge(ops[direction], 1, now);
        charge(bytes[0], byteCount, now);
        charge(bytes[direction], byteCount, now);
        return 0;
    }

    private static long waitNanos(LeakyBucket b, long now) {
        return b == null ? 0 : b.waitNanos(now);
    }

    private static void charge(LeakyBucket b, long units, long now) {
        if (b != null) {
            b.charge(units, now);
        }
    }
}
