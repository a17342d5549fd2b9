package dev.vublk.tests.vm;

import dev.vublk.control.Json;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One precopy live migration between two QEMUs over a Unix socket, driven through their QMP
 * monitors: the destination listens ({@code migrate-incoming}), the source's bandwidth is
 * capped so that RAM goes over in several passes while the guest keeps running, then
 * {@code migrate}; {@code query-migrate} is polled until {@code completed}. Every QMP reply
 * must be a {@code return}; {@code failed}, {@code cancelled} or no end within the bound throw.
 */
public final class LiveMigration {

    private static final Duration POLL = Duration.ofMillis(200);

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
        String uri = "unix:" + channel;
        destination.execute("migrate-incoming", Map.of("uri", uri));
        source.execute("migrate-set-parameters", Map.of("max-bandwidth", bytesPerSecond));
        source.execute("migrate", Map.of("uri", uri));
        return await(source, bound);
    }

    private static Figures await(QemuMonitor source, Duration bound) {
        long deadline = System.nanoTime() + bound.toNanos();
        List<String> seen = new ArrayList<>();
        while (true) {
            Map<String, Object> info = source.query("query-migrate");
            String status = String.valueOf(info.get("status"));
            if (seen.isEmpty() || !seen.getLast().equals(status)) {
                seen.add(status);
            }
            switch (status) {
                case "completed" -> {
                    return figures(info, seen);
                }
                case "failed", "cancelled" -> throw new VmException("migration " + status + ": "
                        + info.getOrDefault("error-desc", "QEMU gave no reason") + "; query-migrate: " + Json.write(info));
                default -> { }
            }
            if (System.nanoTime() > deadline) {
                throw new VmException("migration not completed within " + bound + "; statuses " + seen
                        + ", last query-migrate: " + Json.write(info));
            }
            QemuMonitor.sleep(POLL);
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
