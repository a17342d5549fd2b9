package dev.vublk.tests.bench;

import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.backend.ProcessBackend;
import dev.vublk.tests.backend.RunningBackend;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How closely our backend holds its I/O limits: for each limit (a case), a fresh backend started
 * with it, driven at queue depth {@code --qd} on 1 and 2 queues by the test frontend, far faster
 * than the limit allows. Each run first lets the burst pass unmeasured (the bucket's tenth of a
 * second, or the whole {@code -max} burst), then counts completions by completion time over
 * {@code --duration} seconds: requests offered earlier wait in the ring into the window, so
 * counting by offer time would miss a queue depth's worth. Prints every run, then achieved/limit
 * min/median/max per case and queue count. Run through {@code scripts/bench-throttle}.
 */
public final class ThrottleBench {
    private static final long MIB = 1 << 20;

    /**
     * One limit and the workload that pushes against it.
     *
     * @param limit    IOPS, or bytes per second when {@code bytes}
     * @param warmup   unmeasured seconds first: at least the burst
     */
    record Case(String label, List<String> options, BenchCase workload, long limit, boolean bytes, double warmup) {}

    record Run(int repeat, Case c, int queues, double achieved, double load, long errors) {
        double ratio() {
            return achieved / c.limit();
        }
    }

    static final List<Case> CASES = List.of(
            new Case("iops=500", List.of("--iops", "500"), BenchCase.RANDREAD_4K, 500, false, 1),
            new Case("iops=2000", List.of("--iops", "2000"), BenchCase.RANDWRITE_4K, 2000, false, 1),
            new Case("bps=20MiB", List.of("--bps", Long.toString(20 * MIB)), BenchCase.SEQREAD_128K, 20 * MIB, true, 1),
            new Case("iops-rd=1000", List.of("--iops-rd", "1000"), BenchCase.RANDREAD_4K, 1000, false, 1),
            new Case("bps-wr=10MiB", List.of("--bps-wr", Long.toString(10 * MIB)), BenchCase.SEQWRITE_128K, 10 * MIB, true, 1),
            // Bucket of 2000 * 2 operations filling at 2000 - 500 per second: the burst ends after 2.7 s.
            new Case("iops=500,max=2000x2s", List.of("--iops", "500", "--iops-max", "2000", "--iops-max-length", "2"),
                    BenchCase.RANDREAD_4K, 500, false, 4));

    private ThrottleBench() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> o = BlkBench.parse(args);
        Path image = Path.of(o.getOrDefault("image", "/dev/shm/vublk-throttle.raw"));
        int repeat = Integer.parseInt(o.getOrDefault("repeat", "3"));
        int depth = Integer.parseInt(o.getOrDefault("qd", "32"));
        double seconds = Double.parseDouble(o.getOrDefault("duration", "10"));
        int[] queueCounts = Arrays.stream(o.getOrDefault("queues", "1,2").split(",")).mapToInt(Integer::parseInt).toArray();
        List<String> labels = o.containsKey("cases") ? List.of(o.get("cases").split(",")) : null;
        List<Case> cases = CASES.stream().filter(c -> labels == null || labels.contains(c.label())).toList();
        String jar = o.get("jar");
        if (jar == null) {
            throw new IllegalArgumentException("--jar PATH (the shaded vhost-user-blk.jar) is required");
        }
        if (!Files.exists(image)) {
            throw new IllegalArgumentException("image " + image + " does not exist");
        }
        int maxQueues = Arrays.stream(queueCounts).max().orElse(1);
        Path socket = Files.createTempDirectory("vublk-throttle").resolve("bench.sock");
        System.out.printf(Locale.ROOT, "# I/O limits on %s, QD %d per queue, %.0f s measured after each case's burst, %d repeats; load %s%n",
                image, depth, seconds, repeat, AllocBench.loadAverage());
        System.out.printf("%-3s %-22s %-13s %2s %12s %12s %9s %6s%n", "rep", "limit", "workload", "q", "limit", "achieved",
                "ach/lim", "load1");
        List<Run> runs = new ArrayList<>();
        for (int rep = 1; rep <= repeat; rep++) {
            for (Case c : cases) {
                for (int queues : queueCounts) {
                    BackendSpec spec = new BackendSpec(image, "raw", maxQueues, false, null, 512, true);
                    BlkBench.Result r;
                    try (RunningBackend b = ProcessBackend.ours(spec, socket, jar, c.options())) {
                        r = BlkBench.run(b, c.workload(), queues, depth, c.warmup(), seconds, 0, 1);
                    }
                    double achieved = c.bytes() ? r.windowIops() * c.workload().blockSize : r.windowIops();
                    Run run = new Run(rep, c, queues, achieved, AllocBench.loadAverage(), r.errors());
                    runs.add(run);
                    System.out.printf(Locale.ROOT, "%-3d %-22s %-13s %2d %12s %12s %9.4f %6.2f%s%n", rep, c.label(),
                            c.workload().label, queues, rate(c, c.limit()), rate(c, achieved), run.ratio(), run.load(),
                            r.errors() > 0 ? "  ERRORS " + r.errors() : "");
                }
            }
        }
        summarize(runs, cases, queueCounts);
    }

    private static String rate(Case c, double value) {
        return c.bytes() ? String.format(Locale.ROOT, "%.2f MiB/s", value / MIB) : String.format(Locale.ROOT, "%.1f IOPS", value);
    }

    private static void summarize(List<Run> runs, List<Case> cases, int[] queueCounts) {
        System.out.printf("%n# achieved / limit over repeats: min / median / max (the limit holds within 5%%: 0.95..1.05)%n");
        double worst = 0;
        for (Case c : cases) {
            for (int queues : queueCounts) {
                double[] ratios = runs.stream().filter(r -> r.c() == c && r.queues() == queues).mapToDouble(Run::ratio).sorted().toArray();
                if (ratios.length == 0) {
                    continue;
                }
                double median = ratios.length % 2 == 1 ? ratios[ratios.length / 2]
                        : (ratios[ratios.length / 2 - 1] + ratios[ratios.length / 2]) / 2;
                worst = Math.max(worst, Math.max(Math.abs(ratios[0] - 1), Math.abs(ratios[ratios.length - 1] - 1)));
                System.out.printf(Locale.ROOT, "%-22s %-13s q=%d  %.4f / %.4f / %.4f%n", c.label(), c.workload().label, queues,
                        ratios[0], median, ratios[ratios.length - 1]);
            }
        }
        System.out.printf(Locale.ROOT, "# largest deviation from the limit in any run: %.2f%%%n", worst * 100);
    }
}
