package dev.vublk.tests.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.stream.Stream;

/**
 * Samples a process from outside, every interval on a thread of its own: resident memory
 * ({@code VmRSS} of /proc/PID/status), proportional set size ({@code Pss} of
 * /proc/PID/smaps_rollup, -1 where the kernel has no rollup), open file descriptors (entries of
 * /proc/PID/fd), and the driver's completed requests and errors at that moment. Samples are taken
 * on a fixed schedule from the start (no drift from the time a sample takes).
 */
final class ResourceSampler implements AutoCloseable {
    /** One sample; {@code iops} is over the time since the previous one (0 for the first). */
    record Sample(double seconds, long rssKib, long pssKib, int fds, double iops, long errors) {}

    private final long pid;
    private final long intervalNanos;
    private final LongSupplier completed, errors;
    private final List<Sample> samples = new ArrayList<>();
    private final Thread thread;
    private volatile boolean stop;
    private volatile RuntimeException failure;

    private ResourceSampler(long pid, long intervalNanos, LongSupplier completed, LongSupplier errors) {
        this.pid = pid;
        this.intervalNanos = intervalNanos;
        this.completed = completed;
        this.errors = errors;
        this.thread = Thread.ofPlatform().name("sampler-" + pid).daemon().unstarted(this::run);
    }

    /** Starts sampling {@code pid} now and then every {@code intervalSeconds}. */
    static ResourceSampler start(long pid, double intervalSeconds, LongSupplier completed, LongSupplier errors) {
        ResourceSampler s = new ResourceSampler(pid, (long) (intervalSeconds * 1e9), completed, errors);
        s.thread.start();
        return s;
    }

    private void run() {
        long start = System.nanoTime();
        long lastNanos = start, lastCompleted = completed.getAsLong();
        try {
            for (long next = start; !stop; next += intervalNanos) {
                long left;
                while (!stop && (left = next - System.nanoTime()) > 0) {
                    TimeUnit.NANOSECONDS.sleep(Math.min(left, 100_000_000L));
                }
                if (stop) {
                    break;
                }
                long now = System.nanoTime();
                long done = completed.getAsLong();
                double iops = now == lastNanos ? 0 : (done - lastCompleted) / ((now - lastNanos) / 1e9);
                Sample s = new Sample((now - start) / 1e9, statusKib("VmRSS:"), rollupPss(), fdCount(), iops,
                        errors.getAsLong());
                synchronized (samples) {
                    samples.add(s);
                }
                lastNanos = now;
                lastCompleted = done;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            failure = e;
        }
    }

    /** Stops sampling and returns every sample taken; fails if a sample could not be read. */
    List<Sample> stop() throws InterruptedException {
        stop = true;
        thread.join(TimeUnit.SECONDS.toMillis(10));
        if (failure != null) {
            throw new IllegalStateException("sampling process " + pid + " failed: " + failure.getMessage(), failure);
        }
        synchronized (samples) {
            return List.copyOf(samples);
        }
    }

    @Override
    public void close() throws InterruptedException {
        stop();
    }

    private Path proc(String name) {
        return Path.of("/proc", Long.toString(pid), name);
    }

    private long statusKib(String field) {
        return kibField(read(proc("status")), field, "/proc/" + pid + "/status");
    }

    private long rollupPss() {
        Path rollup = proc("smaps_rollup");
        return Files.exists(rollup) ? kibField(read(rollup), "Pss:", rollup.toString()) : -1;
    }

    private int fdCount() {
        try (Stream<Path> fds = Files.list(proc("fd"))) {
            return (int) fds.count();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list /proc/" + pid + "/fd (did the backend exit?)", e);
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + p + " (did the backend exit?)", e);
        }
    }

    /** The value of a "Name:   1234 kB" line. */
    static long kibField(String text, String field, String source) {
        for (String line : text.split("\n")) {
            if (line.startsWith(field)) {
                String[] parts = line.substring(field.length()).trim().split("\\s+");
                return Long.parseLong(parts[0]);
            }
        }
        throw new IllegalStateException(source + " has no " + field + " line");
    }
}
