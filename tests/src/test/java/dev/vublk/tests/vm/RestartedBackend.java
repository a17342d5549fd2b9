package dev.vublk.tests.vm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One of the backends a restart test starts one after another on the same socket, each with its
 * own log, so that what the log says (QEMU connected, each queue started and how many requests it
 * resubmitted from the inflight area) belongs to this backend alone.
 */
final class RestartedBackend implements AutoCloseable {
    private static final Pattern CONNECTED = Pattern.compile("front-end connected");
    private static final Pattern RESUBMITTED = Pattern.compile("queue (\\d+): resubmitting (\\d+) request");
    private static final Pattern ERROR = Pattern.compile("^\\S+ ERROR ");
    private static final Duration SOCKET_LIMIT = Duration.ofSeconds(60);

    private final int number;
    private final BackendProcess process;
    /** When the outage this backend ends began: its predecessor's kill, or its own start. */
    private final long outageStartNanos;
    private final long startedNanos;

    private RestartedBackend(int number, BackendProcess process, long outageStartNanos) {
        this.number = number;
        this.process = process;
        this.outageStartNanos = outageStartNanos;
        this.startedNanos = System.nanoTime();
    }

    /** Backend {@code number} on {@code socket}, logging to {@code dir/backend-NUMBER.log}. */
    static RestartedBackend start(Path socket, List<String> command, Path dir, int number, long outageStartNanos) {
        Path log = dir.resolve("backend-" + number + ".log");
        return new RestartedBackend(number, BackendProcess.start(command, socket, log, SOCKET_LIMIT), outageStartNanos);
    }

    Path socket() {
        return process.socket();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    long ageMillis() {
        return (System.nanoTime() - startedNanos) / 1_000_000;
    }

    String logTail(int lines) {
        return process.logTail(lines);
    }

    /** SIGKILL; returns when the process is gone (or after five seconds). */
    void kill() {
        process.kill();
    }

    /**
     * Waits until QEMU connected and every queue started with the inflight area; fails the test
     * when that takes longer than {@code limit}, the backend dies, logs an ERROR, or the guest ends.
     */
    RestartRecord awaitQueues(int queues, Duration limit, RunningVm guest) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        long connectedNanos = -1;
        while (true) {
            String log = Files.readString(process.log(), StandardCharsets.UTF_8);
            if (connectedNanos < 0 && CONNECTED.matcher(log).find()) {
                connectedNanos = System.nanoTime();
            }
            int[] resubmitted = resubmitted(log, queues);
            String problem = !errorLines(log).isEmpty() ? "logged an error"
                    : !process.isAlive() ? "died"
                    : !guest.isAlive() || guest.serial().status().isPresent() ? "lost its guest (the guest ended)"
                    : System.nanoTime() > deadline ? "saw no reconnect with all " + queues + " queues within " + limit
                    : null;
            if (resubmitted != null && connectedNanos >= 0) {
                return new RestartRecord(number, 0, millisSince(connectedNanos), millisSince(System.nanoTime()), resubmitted);
            }
            if (problem != null) {
                throw new AssertionError("backend " + number + " " + problem + ":\n" + process.logTail(30)
                        + "guest console:\n" + guest.serial().tailText(20));
            }
            Thread.sleep(50);
        }
    }

    private long millisSince(long nanos) {
        return (nanos - outageStartNanos) / 1_000_000;
    }

    /** Per queue, the count its start logged; null while a queue has not started yet. */
    private static int[] resubmitted(String log, int queues) {
        int[] counts = new int[queues];
        Arrays.fill(counts, -1);
        Matcher m = RESUBMITTED.matcher(log);
        while (m.find()) {
            int q = Integer.parseInt(m.group(1));
            if (q < queues) {
                counts[q] = Math.max(counts[q], 0) + Integer.parseInt(m.group(2));
            }
        }
        for (int c : counts) {
            if (c < 0) {
                return null;
            }
        }
        return counts;
    }

    /** The backend's ERROR lines so far. */
    List<String> errorLines() throws IOException {
        return errorLines(Files.readString(process.log(), StandardCharsets.UTF_8));
    }

    private static List<String> errorLines(String log) {
        return log.lines().filter(l -> ERROR.matcher(l).find()).toList();
    }

    @Override
    public void close() {
        process.close();
    }
}
