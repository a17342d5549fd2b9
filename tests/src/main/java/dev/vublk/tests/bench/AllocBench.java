package dev.vublk.tests.bench;

import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.backend.ProcessBackend;
import dev.vublk.tests.backend.RunningBackend;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Allocating-write benchmark: every run gets a FRESH image (qemu-img create), so each write of
 * the run lands on unallocated clusters/blocks as a new guest's would; a reused image measures
 * overwrites after the first run. Runs each (duration, queue count) for every backend, the
 * backend order alternating between repetitions so a neighbour's load does not always hit the
 * same one, and prints every run, then min/median/max per (backend, queues, duration) and the
 * 2q/1q and ours/qsd ratios of the runs paired by repetition. Run through
 * {@code scripts/bench-alloc}.
 *
 * <p>Each backend is fresh too, so a JVM backend would spend a short run compiling its hot path
 * (measured: C1 and C2 threads took half of the backend's CPU in the first 2 s). With
 * {@code --jit-warmup SECONDS} the same job first runs on the last eighth of the disk, and the
 * measured run covers only the first seven eighths, which the warm-up never touched: the
 * measured writes still all start on unallocated clusters.
 */
public final class AllocBench {
    /** Where the JIT warm-up writes: the last eighth of the disk, never measured. */
    private static final double WARMUP_FROM = 7 / 8.0;

    /** One measured run of one backend; repeats pair the backends' runs for ratios. */
    record Run(int repeat, String backend, int queues, double seconds, BlkBench.Result result, double load) {}

    private AllocBench() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> o = BlkBench.parse(args);
        String format = o.getOrDefault("format", "qcow2");
        String size = o.getOrDefault("size", "4G");
        Path image = Path.of(o.getOrDefault("dir", "/dev/shm"), "vublk-alloc." + format);
        int repeat = Integer.parseInt(o.getOrDefault("repeat", "3"));
        int depth = Integer.parseInt(o.getOrDefault("qd", "32"));
        BenchCase bench = BenchCase.byLabel(o.getOrDefault("case", "randwrite-4k"));
        double[] durations = Arrays.stream(o.getOrDefault("durations", "2,8").split(",")).mapToDouble(Double::parseDouble)
                .toArray();
        int[] queueCounts = Arrays.stream(o.getOrDefault("queues", "1,2").split(",")).mapToInt(Integer::parseInt).toArray();
        List<String> backends = List.of(o.getOrDefault("backends", "ours,qsd").split(","));
        String jar = o.get("jar");
        if (backends.contains("ours") && jar == null) {
            throw new IllegalArgumentException("--jar PATH (the shaded vhost-user-blk.jar) is required for ours");
        }
        double jitWarmup = Double.parseDouble(o.getOrDefault("jit-warmup", "0"));
        double measuredPart = jitWarmup > 0 ? WARMUP_FROM : 1;
        int maxQueues = Arrays.stream(queueCounts).max().orElse(1);
        Path socket = Files.createTempDirectory("vublk-alloc").resolve("bench.sock");
        System.out.printf(Locale.ROOT, "# %s on a fresh %s %s image per run (%s), QD %d, %d repeats, JIT warm-up %.0f s; load %s%n",
                bench.label, size, format, image, depth, repeat, jitWarmup, loadAverage());
        System.out.printf("%-3s %-5s %2s %5s %10s %9s %9s %6s %6s%n", "rep", "back", "q", "secs", "IOPS", "p50(us)",
                "p99(us)", "cores", "load1");
        List<Run> runs = new ArrayList<>();
        for (int rep = 1; rep <= repeat; rep++) {
            List<String> order = new ArrayList<>(backends);
            if (rep % 2 == 0) {
                order = order.reversed();
            }
            for (double seconds : durations) {
                for (int queues : queueCounts) {
                    for (String backend : order) {
                        createFresh(image, format, size);
                        BackendSpec spec = new BackendSpec(image, format, maxQueues, false, null, 512, true);
                        BlkBench.Result r;
                        try (RunningBackend b = backend.equals("qsd") ? ProcessBackend.qsd(spec, socket)
                                : ProcessBackend.ours(spec, socket, jar)) {
                            if (jitWarmup > 0) {
                                BlkBench.run(b, bench, queues, depth, jitWarmup, WARMUP_FROM, 1);
                            }
                            r = BlkBench.run(b, bench, queues, depth, seconds, 0, measuredPart);
                        } finally {
                            Files.deleteIfExists(image);
                        }
                        Run run = new Run(rep, backend, queues, seconds, r, loadAverage());
                        runs.add(run);
                        System.out.printf(Locale.ROOT, "%-3d %-5s %2d %5.0f %10.0f %9.0f %9.0f %6.2f %6.2f%s%n", rep,
                                backend, queues, seconds, r.iops(), r.p50(), r.p99(), r.cores(), run.load(),
                                r.errors() > 0 ? "  ERRORS " + r.errors() : "");
                    }
                }
            }
        }
        summarize(runs, backends, queueCounts, durations);
    }

    /** Prints min/median/max per (backend, queues, seconds), and the 2q/1q and ours/qsd ratios of runs paired by repeat. */
    static void summarize(List<Run> runs, List<String> backends, int[] queueCounts, double[] durations) {
        System.out.printf("%n# min / median / max over repeats%n");
        System.out.printf("%-5s %2s %5s %26s %26s %26s %17s%n", "back", "q", "secs", "IOPS", "p50(us)", "p99(us)", "cores");
        for (String backend : backends) {
            for (int queues : queueCounts) {
                for (double seconds : durations) {
                    List<BlkBench.Result> rs = runs.stream()
                            .filter(r -> r.backend().equals(backend) && r.queues() == queues && r.seconds() == seconds)
                            .map(Run::result).toList();
                    System.out.printf(Locale.ROOT, "%-5s %2d %5.0f %26s %26s %26s %17s%n", backend, queues, seconds,
                            spread(rs, BlkBench.Result::iops, "%.0f"), spread(rs, BlkBench.Result::p50, "%.0f"),
                            spread(rs, BlkBench.Result::p99, "%.0f"), spread(rs, BlkBench.Result::cores, "%.2f"));
                }
            }
        }
        System.out.printf("%n# ratios of runs paired by repeat (min / median / max)%n");
        int lo = Arrays.stream(queueCounts).min().orElse(1);
        int hi = Arrays.stream(queueCounts).max().orElse(1);
        for (double seconds : durations) {
            if (hi != lo) {
                for (String backend : backends) {
                    System.out.printf(Locale.ROOT, "%-5s %5.0fs  IOPS %dq/%dq        %s%n", backend, seconds, hi, lo,
                            pairedRatio(runs, backend, hi, backend, lo, seconds, BlkBench.Result::iops));
                }
            }
            if (backends.contains("ours") && backends.contains("qsd")) {
                for (int queues : queueCounts) {
                    System.out.printf(Locale.ROOT, "ours/qsd %5.0fs q=%d IOPS %s   p99 %s%n", seconds, queues,
                            pairedRatio(runs, "ours", queues, "qsd", queues, seconds, BlkBench.Result::iops),
                            pairedRatio(runs, "ours", queues, "qsd", queues, seconds, BlkBench.Result::p99));
                }
            }
        }
    }

    private static String pairedRatio(List<Run> runs, String b1, int q1, String b2, int q2, double seconds,
                                      ToDoubleFunction<BlkBench.Result> metric) {
        List<Double> ratios = new ArrayList<>();
        for (Run a : runs) {
            if (!a.backend().equals(b1) || a.queues() != q1 || a.seconds() != seconds) {
                continue;
            }
            for (Run b : runs) {
                if (b.repeat() == a.repeat() && b.backend().equals(b2) && b.queues() == q2 && b.seconds() == seconds) {
                    ratios.add(metric.applyAsDouble(a.result()) / metric.applyAsDouble(b.result()));
                }
            }
        }
        return spread(ratios.stream().mapToDouble(Double::doubleValue).toArray(), "%.2f");
    }

    private static String spread(List<BlkBench.Result> rs, ToDoubleFunction<BlkBench.Result> metric, String fmt) {
        return spread(rs.stream().mapToDouble(metric).toArray(), fmt);
    }

    private static String spread(double[] values, String fmt) {
        if (values.length == 0) {
            return "-";
        }
        double[] v = values.clone();
        Arrays.sort(v);
        double median = v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
        return String.format(Locale.ROOT, fmt + " / " + fmt + " / " + fmt, v[0], median, v[v.length - 1]);
    }

    private static void createFresh(Path image, String format, String size) throws IOException, InterruptedException {
        Files.deleteIfExists(image);
        Process p = new ProcessBuilder("qemu-img", "create", "-q", "-f", format, image.toString(), size)
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (p.waitFor() != 0) {
            throw new IOException("qemu-img create -f " + format + " " + image + " " + size + " failed: " + out);
        }
    }

    /** The 1-minute load average: other agents share this machine, so each run says how busy it was. */
    static double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (IOException | NumberFormatException e) {
            return Double.NaN;
        }
    }
}
