package dev.vublk.tests.vm;

import dev.vublk.control.Json;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * One precopy live migration between two QEMUs over a Unix socket, driven through their QMP
 * monitors: the destination listens ({@code migrate-incoming}), the source's bandwidth is
 * capped so that RAM goes over in several passes while the guest keeps running, then
 * {@code migrate}; {@code query-migrate} is polled until {@code completed}. Every QMP reply
 * must be a {@code return}; {@code failed}, {@code cancelled} or no end within the bound throw.
 */
public final class LiveMigration {

    private static final Duration POLL = Duration.ofMillis(200);
    /** Near the end of the first pass a tenth of a second is megabytes: look more often. */
    private static final Duration FAST_POLL = Duration.ofMillis(50);

    /**
     * What {@code query-migrate} reported at the end: milliseconds in all, with the guest
     * stopped, and RAM passes ({@code dirty-sync-count}: each is one sync of the dirty bitmaps,
     * the back-end's log included), bytes sent, and the statuses seen while polling.
     */
    public record Figures(long totalMillis, long downtimeMillis, long dirtySyncs, long ramBytes,
                          long transferredBytes, List<String> statuses) {
        @Override
        public String toString() {
            return String.format("total %.1f s, downtime %d ms, %d dirty syncs, %d MiB sent (RAM %d MiB), statuses %s",
                    totalMillis / 1000.0, downtimeMillis, dirtySyncs, transferredBytes >> 20, ramBytes >> 20, statuses);
        }
    }

    private LiveMigration() {
    }

    /**
     * Migrates the guest of {@code source} to {@code destination} (started with
     * {@link QemuCommand#incoming()}) over {@code channel}, at most {@code bytesPerSecond}, and
     * waits at most {@code bound} for the end.
     */
    public static Figures run(QemuMonitor source, QemuMonitor destination, Path channel, long bytesPerSecond,
                              Duration bound) {
        start(source, destination, channel, bytesPerSecond);
        return awaitCompleted(source, bound);
    }

    /** Starts what {@link #run} does without waiting, for tests that act while RAM goes over. */
    public static void start(QemuMonitor source, QemuMonitor destination, Path channel, long bytesPerSecond) {
        String uri = "unix:" + channel;
        destination.execute("migrate-incoming", Map.of("uri", uri));
        setBandwidth(source, bytesPerSecond);
        source.execute("migrate", Map.of("uri", uri));
    }

    /**
     * Caps the migration's bandwidth from now on: a cap of a few KiB/s holds it where it is
     * (a page per tenth of a second), a larger one lets it go on.
     */
    public static void setBandwidth(QemuMonitor source, long bytesPerSecond) {
        source.execute("migrate-set-parameters", Map.of("max-bandwidth", bytesPerSecond));
    }

    /** Waits at most {@code bound} for the migration to complete and returns its figures. */
    public static Figures awaitCompleted(QemuMonitor source, Duration bound) {
        List<String> seen = new ArrayList<>();
        Map<String, Object> info = poll(source, bound, POLL, "completed", seen,
                i -> "completed".equals(i.get("status")));
        return figures(info, seen);
    }

    /**
     * Waits at most {@code bound} until at most {@code bytes} of RAM are left to send in the
     * first pass over it, and returns what is left; the end of the first pass throws.
     */
    public static long awaitFirstPassLeft(QemuMonitor source, long bytes, Duration bound) {
        String what = "at most " + (bytes >> 20) + " MiB left in the first pass";
        Map<String, Object> info = poll(source, bound, FAST_POLL, what, new ArrayList<>(),
                i -> i.get("ram") instanceof Map<?, ?> ram && number(ram, "remaining") <= bytes);
        Map<?, ?> ram = (Map<?, ?>) info.get("ram");
        if (!"active".equals(info.get("status")) || number(ram, "dirty-sync-count") != 1) {
            throw new VmException("RAM went over once before the migration was held; query-migrate: "
                    + Json.write(info));
        }
        return number(ram, "remaining");
    }

    /** Polls query-migrate until {@code reached}; a failed, cancelled or (unwanted) completed end throws. */
    private static Map<String, Object> poll(QemuMonitor source, Duration bound, Duration interval, String what,
                                            List<String> seen, Predicate<Map<String, Object>> reached) {
        long deadline = System.nanoTime() + bound.toNanos();
        while (true) {
            Map<String, Object> info = source.query("query-migrate");
            String status = String.valueOf(info.get("status"));
            if (seen.isEmpty() || !seen.getLast().equals(status)) {
                seen.add(status);
            }
            if (reached.test(info)) {
                return info;
            }
            switch (status) {
                case "failed", "cancelled" -> throw new VmException("migration " + status + ": "
                        + info.getOrDefault("error-desc", "QEMU gave no reason") + "; query-migrate: " + Json.write(info));
                case "completed" -> throw new VmException("migration completed before " + what + "; query-migrate: "
                        + Json.write(info));
                default -> { }
            }
            if (System.nanoTime() > deadline) {
                throw new VmException("migration not at " + what + " within " + bound + "; statuses " + seen
                        + ", last query-migrate: " + Json.write(info));
            }
            QemuMonitor.sleep(interval);
        }
    }

    private static Figures figures(Map<String, Object> info, List<String> seen) {
        if (!(info.get("ram") instanceof Map<?, ?> ram)) {
            throw new VmException("completed migration without RAM figures: " + Json.write(info));
        }
        return new Figures(number(info, "total-time"), number(info, "downtime"), number(ram, "dirty-sync-count"),
                number(ram, "total"), number(ram, "transferred"), List.copyOf(seen));
    }

    private static long number(Map<?, ?> map, String key) {
        if (map.get(key) instanceof Number n) {
            return n.longValue();
        }
        throw new VmException("query-migrate has no number " + key + ": " + Json.write(map));
    }
}
