package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.Throttle.READ;
import static dev.vublk.vhost.blk.Throttle.WRITE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The throttle's arithmetic on a clock the test holds (every {@code now} is given): exact waits
 * in nanoseconds, QEMU's bucket sizes and burst, the read/write/total buckets, and the extremes
 * of rates and sizes. Nothing here sleeps or measures time.
 */
class ThrottleTest {
    private static final long T0 = 1_000_000_000_000L;
    private static final long MS = 1_000_000L;

    /** Admits requests as fast as the throttle lets them, from T0 to T0 + span; returns each admission's time. */
    private static List<Long> greedy(Throttle t, int direction, long bytes, long span) {
        List<Long> admitted = new ArrayList<>();
        long now = T0;
        while (now <= T0 + span) {
            long wait = t.admit(direction, bytes, now);
            if (wait == 0) {
                admitted.add(now);
            } else {
                assertTrue(wait > 0);
                now += wait;
            }
        }
        return admitted;
    }

    @Test
    void withoutABurstRateATenthOfASecondGoesAtOnceThenOneRequestPerPeriod() {
        Throttle t = Throttle.of(TestLimits.of("iops", 100), T0);
        for (int i = 0; i < 11; i++) {
            assertEquals(0, t.admit(READ, 4096, T0), "request " + i + " fits the bucket of 10 (+1: checked before charged)");
        }
        assertEquals(10 * MS, t.admit(READ, 4096, T0));
        assertEquals(1, t.admit(READ, 4096, T0 + 10 * MS - 1));
        assertEquals(0, t.admit(READ, 4096, T0 + 10 * MS));
        assertEquals(10 * MS, t.admit(WRITE, 4096, T0 + 10 * MS), "a write waits on the same total bucket");
    }

    @Test
    void aGreedyClientGetsTheBaseRateExactly() {
        Throttle t = Throttle.of(TestLimits.of("iops", 100), T0);
        List<Long> at = greedy(t, READ, 4096, 10_000 * MS);
        assertEquals(11 + 1000, at.size(), "11 at once, then 100 per second for 10 s");
        for (int i = 11; i < at.size(); i++) {
            assertEquals(10 * MS, at.get(i) - at.get(i - 1));
        }
    }

    @Test
    void aBurstRunsAtTheBurstRateUntilTheBucketIsFullThenTheBaseRate() {
        // Bucket of 1000 * 2 units at 100/s (20 s of base rate); burst level 100 units at 1000/s.
        Throttle t = Throttle.of(TestLimits.of("iops", 100, "iops_max", 1000, "iops_max_length", 2), T0);
        List<Long> at = greedy(t, READ, 4096, 5_000 * MS);
        for (int i = 1; i <= 100; i++) {
            assertEquals(T0, at.get(i), "the burst level's tenth of a second goes at once");
        }
        // Before the k-th request at T0 + k ms the bucket holds 1e9 + 9e6 k ns: full after k = 2111.
        for (int i = 101; i <= 100 + 2111; i++) {
            assertEquals(1 * MS, at.get(i) - at.get(i - 1), "burst rate at request " + i);
        }
        // The burst level holds the next one to T0 + 2112 ms, where the bucket is 8 ms over.
        assertEquals(T0 + 2120 * MS, at.get(2212));
        for (int i = 2213; i < at.size(); i++) {
            assertEquals(10 * MS, at.get(i) - at.get(i - 1), "base rate at request " + i);
        }
        assertEquals(2213 + 288, at.size(), "then 100 per second from T0 + 2.12 s to T0 + 5 s");
    }

    @Test
    void aBurstRateWithABurstOfOneSecondIsOneBigBucket() {
        Throttle t = Throttle.of(TestLimits.of("bps", 1000, "bps_max", 5000), T0);
        for (int i = 0; i <= 5; i++) {
            assertEquals(0, t.admit(WRITE, 1000, T0), "5000 bytes fit at once, and one more request");
        }
        assertEquals(1000 * MS, t.admit(WRITE, 1000, T0), "6000 bytes owed, 5000 allowed: one second at 1000/s");
    }

    @Test
    void readAndWriteBucketsAreSeparateAndTotalOnesShared() {
        Throttle reads = Throttle.of(TestLimits.of("iops_rd", 10), T0);
        assertEquals(0, reads.admit(READ, 512, T0));
        assertEquals(0, reads.admit(READ, 512, T0));
        assertEquals(100 * MS, reads.admit(READ, 512, T0));
        for (int i = 0; i < 1000; i++) {
            assertEquals(0, reads.admit(WRITE, 512, T0), "writes are not limited by iops_rd");
        }

        Throttle total = Throttle.of(TestLimits.of("iops", 10), T0);
        assertEquals(0, total.admit(READ, 512, T0));
        assertEquals(0, total.admit(WRITE, 512, T0));
        assertEquals(100 * MS, total.admit(WRITE, 512, T0), "a read and a write filled the one total bucket");
        assertEquals(100 * MS, total.admit(READ, 512, T0));

        Throttle mixed = Throttle.of(TestLimits.of("iops_rd", 1000, "bps_wr", 1000), T0);
        assertEquals(0, mixed.admit(WRITE, 4096, T0));
        assertEquals(3_996 * MS, mixed.admit(WRITE, 4096, T0), "4096 bytes at 1000/s less the 100 ms bucket");
        assertEquals(0, mixed.admit(READ, 1 << 20, T0), "reads are limited by operations only");
    }

    @Test
    void aRequestThatMustWaitIsNotCharged() {
        Throttle t = Throttle.of(TestLimits.of("iops", 10, "bps", 1000), T0);
        assertEquals(0, t.admit(READ, 4096, T0));
        long wait = t.admit(READ, 4096, T0);
        assertEquals(3_996 * MS, wait, "the byte bucket decides");
        for (int i = 0; i < 100; i++) {
            assertEquals(wait, t.admit(READ, 4096, T0), "asking again changes nothing");
        }
        assertEquals(0, t.admit(READ, 4096, T0 + wait));
    }

    @Test
    void anEmptyBucketKeepsNoCreditFromIdleTime() {
        Throttle t = Throttle.of(TestLimits.of("iops", 100), T0);
        long later = T0 + 3_600_000 * MS;
        for (int i = 0; i < 11; i++) {
            assertEquals(0, t.admit(READ, 512, later));
        }
        assertEquals(10 * MS, t.admit(READ, 512, later), "an hour idle still allows only the bucket's tenth of a second");
    }

    @Test
    void limitsOfZeroLimitNothing() {
        assertNull(Throttle.of(IoLimits.NONE, T0));
        assertNull(Throttle.of(TestLimits.of("iops_max_length", 3, "bps_wr_max_length", 7), T0), "lengths alone limit nothing");
        Throttle opsOnly = Throttle.of(TestLimits.of("iops_wr", 1_000_000), T0);
        for (int i = 0; i < 1000; i++) {
            assertEquals(0, opsOnly.admit(WRITE, 1L << 30, T0), "no byte limit: size does not matter");
        }
    }

    @Test
    void theLargestRateCountsSubNanosecondCostsExactly() {
        // 2^30 bytes at 10^15 bytes/s cost 1073.741824 ns each: the remainders must add up.
        Throttle t = Throttle.of(TestLimits.of("bps", IoLimits.MAX_RATE), T0);
        int admitted = 0;
        while (t.admit(READ, 1L << 30, T0) == 0) {
            admitted++;
        }
        assertEquals(93_133, admitted, "93132 requests owe 99999723.55 ns, the next one crosses 100 ms");
        assertEquals(798, t.admit(READ, 1L << 30, T0), "100000797.29 ns owed: 798 ns over, rounded up");

        Throttle small = Throttle.of(TestLimits.of("iops", IoLimits.MAX_RATE), T0);
        for (int i = 0; i < 1_000_000; i++) {
            assertEquals(0, small.admit(WRITE, 0, T0), "a million operations owe one nanosecond");
        }
    }

    @Test
    void theSlowestRateAndLargestRequestsSaturateInsteadOfOverflowing() {
        Throttle t = Throttle.of(TestLimits.of("bps", 1), T0);
        assertEquals(0, t.admit(WRITE, Long.MAX_VALUE, T0), "an empty bucket lets any request go");
        long wait = t.admit(WRITE, Long.MAX_VALUE, T0);
        assertEquals(LeakyBucket.MAX_DEBT - LeakyBucket.TENTH_SECOND, wait, "2^33 s owed, saturated at 2^62 ns");
        assertEquals(wait - 1, t.admit(WRITE, 512, T0 + 1), "still counting down, not wrapped");

        Throttle burst = Throttle.of(TestLimits.of("bps", 1, "bps_max", IoLimits.MAX_RATE,
                "bps_max_length", IoLimits.MAX_BURST_SECONDS), T0);
        for (int i = 0; i < 1000; i++) {
            assertEquals(0, burst.admit(WRITE, 1L << 30, T0 + i * MS), "a bucket of 8.64e19 bytes: bounded by the burst rate only");
        }
    }

    @Test
    void theClockMayWrapAroundLongMaxValue() {
        long start = Long.MAX_VALUE - 5 * MS;
        Throttle t = Throttle.of(TestLimits.of("iops", 100), start);
        for (int i = 0; i < 11; i++) {
            assertEquals(0, t.admit(READ, 512, start));
        }
        assertEquals(10 * MS, t.admit(READ, 512, start));
        assertEquals(5 * MS, t.admit(READ, 512, start + 5 * MS), "the clock wrapped to negative values");
        assertEquals(0, t.admit(READ, 512, start + 10 * MS));
    }

    @Test
    void theBucketSizeIsExactAndSaturates() {
        assertEquals(20_000_000_000L, LeakyBucket.mulDivSaturated(1000, 2, 100));
        assertEquals(333_333_333L, LeakyBucket.mulDivSaturated(1, 1, 3), "rounded down: never more than allowed");
        assertEquals(LeakyBucket.MAX_DEBT, LeakyBucket.mulDivSaturated(IoLimits.MAX_RATE, IoLimits.MAX_BURST_SECONDS, 1));
    }
}
