package dev.vublk.vhost.blk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** {@link QueueQuiesce} alone: who counts as quiet, the bounded wait, release and leaving. */
class QueueQuiesceTest {
    private static final long LONG_WAIT = TimeUnit.SECONDS.toNanos(30);

    @Test
    void aQueueThatNeverParksIsNamedAfterTheWaitAndParkedOnesGoOnAfterRelease() throws Exception {
        QueueQuiesce q = new QueueQuiesce();
        String parked = "parked", busy = "busy", ended = "ended";
        q.request();
        Thread t = new Thread(() -> q.park(parked, () -> false));
        t.start();
        assertNull(q.awaitParked(List.of(parked), s -> false, LONG_WAIT), "the parked queue counts as quiet");
        assertEquals(busy, q.awaitParked(List.of(parked, busy, ended), s -> s.equals(ended), TimeUnit.MILLISECONDS.toNanos(50)),
                "the one still running is named once the wait is over");
        assertTrue(t.isAlive(), "parked until released");
        q.release();
        t.join(30_000);
        assertFalse(t.isAlive(), "released");
        assertFalse(q.requested());
    }

    @Test
    void aStoppingQueueLeavesWithoutARelease() throws Exception {
        QueueQuiesce q = new QueueQuiesce();
        q.request();
        AtomicBoolean stopping = new AtomicBoolean();
        Thread t = new Thread(() -> q.park("stopping", stopping::get));
        t.start();
        assertNull(q.awaitParked(List.of("stopping"), s -> false, LONG_WAIT));
        stopping.set(true);
        q.wake();
        t.join(30_000);
        assertFalse(t.isAlive(), "a stop ends the park");
        assertTrue(q.requested(), "the quiesce itself goes on");
    }
}
