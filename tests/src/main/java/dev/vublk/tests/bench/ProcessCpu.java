package dev.vublk.tests.bench;

import dev.vublk.tests.backend.ProcessBackend;
import dev.vublk.tests.backend.RunningBackend;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * CPU used by a backend process over a time window, in cores (utime + stime of every thread,
 * from {@code /proc/PID/stat}, divided by the window): a backend that reaches its IOPS by
 * burning both cores of a small machine leaves nothing for the guest.
 */
final class ProcessCpu {
    private static final long TICKS_PER_SECOND = clockTicks();

    private ProcessCpu() {}

    /**
     * Sleeps until {@code startNanos}, samples, sleeps until {@code endNanos}, samples again
     * (both {@link System#nanoTime()} instants). NaN for a backend that is not a process of its own.
     */
    static double coresBetween(RunningBackend backend, long startNanos, long endNanos) throws InterruptedException {
        if (!(backend instanceof ProcessBackend p)) {
            return Double.NaN;
        }
        sleepUntil(startNanos);
        long before = ticks(p.pid());
        long t0 = System.nanoTime();
        sleepUntil(endNanos);
        long after = ticks(p.pid());
        double seconds = (System.nanoTime() - t0) / 1e9;
        return before < 0 || after < 0 ? Double.NaN : (after - before) / (double) TICKS_PER_SECOND / seconds;
    }

    private static void sleepUntil(long nanos) throws InterruptedException {
        long left;
        while ((left = nanos - System.nanoTime()) > 0) {
            Thread.sleep(left / 1_000_000, (int) (left % 1_000_000));
        }
    }

    /** utime + stime (fields 14 and 15), or -1 when the process is gone. */
    private static long ticks(long pid) {
        String stat;
        try {
            stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            return -1;
        }
        // The command name (field 2) is in parentheses and may contain spaces: count after the last ')'.
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    private static long clockTicks() {
        try {
            Process p = new ProcessBuilder("getconf", "CLK_TCK").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).trim();
            return p.waitFor() == 0 ? Long.parseLong(out) : 100;
        } catch (IOException | NumberFormatException e) {
            return 100; // USER_HZ on every Linux architecture we run on
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 100;
        }
    }
}
