package dev.vublk.vhost.blk;

import java.math.BigInteger;

/**
 * One limited quantity (operations or bytes, of all requests, reads or writes) with the meaning
 * of QEMU's leaky bucket ({@code util/throttle.c}): each request started adds its units to a
 * level that drains at the base rate; a request waits while the level is above the bucket's
 * size, which is a tenth of a second at the base rate, or {@code max * maxLength} units when a
 * burst rate is set. With a burst longer than a second, a second level drains at the burst rate
 * and holds requests above a tenth of a second's worth of it, so a burst runs at that rate, not
 * faster. A request is checked before it is charged: one that finds room goes whatever its size,
 * and the ones after it wait until its units have drained, so a large request is never starved.
 *
 * <p>Each level is kept as the time it needs to drain (nanoseconds, plus a remainder in
 * 1/rate-ths of one), not in units: charging then is one exact division, draining is the clock
 * going by, the wait is a subtraction, and no rate, burst or request size up to the limits
 * below can overflow or lose a unit to rounding. Not thread-safe: {@link Throttle} locks.
 */
final class LeakyBucket {
    static final long NANOS_PER_SECOND = 1_000_000_000L;
    /**
     * The most time a level may owe (about 146 years): bursts and charges beyond it saturate
     * here instead of wrapping, since only differences of clock values are meaningful.
     */
    static final long MAX_DEBT = 1L << 62;
    /** Units charged at most per request (8 GiB): {@code units * 10^9} plus a remainder fits a long. */
    static final long MAX_UNITS = 1L << 33;
    /** Bucket size without a burst rate, and the burst level's size: a tenth of a second. */
    static final long TENTH_SECOND = NANOS_PER_SECOND / 10;

    private final Level base;
    /** Null unless the burst lasts more than one second (QEMU keeps no burst level then). */
    private final Level burst;

    /**
     * @param rate      units per second, from 1 to {@link IoLimits#MAX_RATE}
     * @param max       burst rate (0: none), from {@code rate} to {@link IoLimits#MAX_RATE} when set
     * @param maxLength burst length in seconds, at least 1
     * @param now       the clock now, in nanoseconds: both levels start empty
     */
    LeakyBucket(long rate, long max, long maxLength, long now) {
        if (rate < 1 || rate > IoLimits.MAX_RATE || max < 0 || max > IoLimits.MAX_RATE || max != 0 && max < rate
                || maxLength < 1) {
            throw new IllegalArgumentException("bucket of rate " + rate + ", burst " + max + " for " + maxLength + " s");
        }
        long size = max == 0 ? TENTH_SECOND : mulDivSaturated(max, maxLength, rate);
        this.base = new Level(rate, size, now);
        this.burst = max != 0 && maxLength > 1 ? new Level(max, TENTH_SECOND, now) : null;
    }

    /** Nanoseconds until a request may go, 0 when it may go now. */
    long waitNanos(long now) {
        long wait = base.waitNanos(now);
        return burst == null ? wait : Math.max(wait, burst.waitNanos(now));
    }

    /** Adds a started request's units (negative counts as 0, above {@link #MAX_UNITS} as that). */
    void charge(long units, long now) {
        long u = Math.clamp(units, 0, MAX_UNITS);
        base.charge(u, now);
        if (burst != null) {
            burst.charge(u, now);
        }
    }

    /** Time the base level needs to drain from {@code now}, rounded up: for tests and logs. */
    long drainNanos(long now) {
        return base.drainNanos(now);
    }

    /**
     * {@code max * seconds} units as nanoseconds at {@code rate}: the bucket size. Exact, and
     * computed once per limit change, so a BigInteger costs nothing that matters.
     */
    static long mulDivSaturated(long max, long seconds, long rate) {
        BigInteger nanos = BigInteger.valueOf(max).multiply(BigInteger.valueOf(seconds))
                .multiply(BigInteger.valueOf(NANOS_PER_SECOND)).divide(BigInteger.valueOf(rate));
        return nanos.min(BigInteger.valueOf(MAX_DEBT)).longValueExact();
    }

    /**
     * One level draining at {@code rate} units per second: {@code due} is the clock value at
     * which it is empty, {@code remainder / rate} the fraction of a nanosecond owed beyond it.
     */
    private static final class Level {
        private final long rate;
        /** How much draining time the level may hold before requests wait. */
        private final long size;
        private long due;
        private long remainder;

        Level(long rate, long size, long now) {
            this.rate = rate;
            this.size = size;
            this.due = now;
        }

        long waitNanos(long now) {
            long owed = due - now;
            if (owed < size || owed == size && remainder == 0) {
                return 0;
            }
            return owed - size + (remainder > 0 ? 1 : 0); // rounded up: never early
        }

        void charge(long units, long now) {
            long owed = due - now;
            if (owed < 0) {
                owed = 0; // drained meanwhile; what it drained beyond empty is not credit
                remainder = 0;
            }
            long scaled = units * NANOS_PER_SECOND + remainder; // < 2^33 * 10^9 + MAX_RATE < 2^63
            long cost = scaled / rate;
            remainder = scaled % rate;
            if (cost >= MAX_DEBT - owed) {
                owed = MAX_DEBT;
                remainder = 0;
            } else {
                owed += cost;
            }
            due = now + owed;
        }

        long drainNanos(long now) {
            long owed = due - now;
            return owed < 0 ? 0 : owed + (remainder > 0 ? 1 : 0);
        }
    }
}
