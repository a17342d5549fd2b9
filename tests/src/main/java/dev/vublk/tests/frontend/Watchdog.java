package dev.vublk.tests.frontend;

import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/** Runs an action if a blocking call outlives its deadline: turns a silent backend into an error, not a hang. */
final class Watchdog {
    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "frontend-watchdog");
        t.setDaemon(true);
        return t;
    });

    private Watchdog() {}

    static ScheduledFuture<?> after(Duration timeout, Runnable action) {
        return TIMER.schedule(action, timeout.toNanos(), TimeUnit.NANOSECONDS);
    }
}
