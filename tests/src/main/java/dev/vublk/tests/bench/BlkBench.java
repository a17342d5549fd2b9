package dev.vublk.tests.bench;

import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.backend.ProcessBackend;
import dev.vublk.tests.backend.RunningBackend;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Drives a vhost-user-blk backend with the test frontend and compares ours with
 * qemu-storage-daemon on the same image: IOPS, MiB/s and latency percentiles per case and
 * queue count, one driver thread per queue. Run through {@code scripts/bench}.
 */
public final class BlkBench {
    /**
     * One measured run; {@code cores} is the backend process's CPU time over the measured window / its length;
     * {@code windowIops} counts completions in the window by completion time (see {@link QueueWorker#completedInWindow}).
     */
    record Result(String backend, BenchCase bench, int queues, double iops, double mibs, double p50, double p99, long errors,
                  double cores, double windowIops) {}

    private BlkBench() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> o = parse(args);
        Path image = Path.of(o.getOrDefault("image", "/dev/shm/vublk-bench.raw"));
        String format = o.getOrDefault("format", "raw");
        double seconds = Double.parseDouble(o.getOrDefault("duration", "4"));
        int depth = Integer.parseInt(o.getOrDefault("qd", "32"));
        List<BenchCase> cases = new ArrayList<>();
        for (String c : o.getOrDefault("cases", "randread-4k,randwrite-4k,seqread-128k,seqwrite-128k").split(",")) {
            cases.add(BenchCase.byLabel(c.trim()));
        }
        List<Integer> queueCounts = new ArrayList<>();
        for (String q : o.getOrDefault("queues", "1,2").split(",")) {
            queueCounts.add(Integer.parseInt(q.trim()));
        }
        List<String> backends = List.of(o.getOrDefault("backends", "ours,qsd").split(","));
        String jar = o.get("jar");
        if (backends.contains("ours") && jar == null) {
            throw new IllegalArgumentException("--jar PATH (the shaded vhost-user-blk.jar) is required for ours");
        }
        if (!Files.exists(image)) {
            throw new IllegalArgumentException("image " + image + " does not exist");
        }
        int maxQueues = queueCounts.stream().mapToInt(Integer::intValue).max().orElse(1);
        Path socket = Files.createTempDirectory("vublk-bench").resolve("bench.sock");
        List<Result> results = new ArrayList<>();
        for (String backend : backends) {
            BackendSpec spec = new BackendSpec(image, format, maxQueues, false, null, 512, true);
            System.err.printf("== %s on %s (%s)%n", backend, image, format);
            try (RunningBackend b = backend.equals("qsd") ? ProcessBackend.qsd(spec, socket)
                    : ProcessBackend.ours(spec, socket, jar)) {
                for (int queues : queueCounts) {
                    for (BenchCase bench : cases) {
                        Result r = run(b, bench, queues, depth, seconds);
                        results.add(r);
                        System.err.printf(Locale.ROOT,
                                "   %-14s q=%d  %9.0f IOPS %8.1f MiB/s  p50 %7.1f us  p99 %8.1f us  %4.2f cores%s%n",
                                bench.label, queues, r.iops(), r.mibs(), r.p50(), r.p99(), r.cores(),
                                r.errors() > 0 ? "  ERRORS " + r.errors() : "");
                    }
                }
            }
        }
        print(results);
    }

    /**
     * Runs one case over the whole guest-visible disk (its virtual size: a fresh qcow2 or vhdx
     * file is a few hundred KiB, and bounding offsets by the file size would keep every write in
     * its first clusters).
     */
    static Result run(RunningBackend backend, BenchCase bench, int queues, int depth, double seconds) throws Exception {
        return run(backend, bench, queues, depth, seconds, 0, 1);
    }

    /** {@link #run} over the part {@code [from, to)} of the disk, as fractions of its size. */
    static Result run(RunningBackend backend, BenchCase bench, int queues, int depth, double seconds, double from, double to)
            throws Exception {
        return run(backend, bench, queues, depth, 0.5, seconds, from, to);
    }

    /** {@link #run} measured after {@code warmupSeconds} of unmeasured running. */
    static Result run(RunningBackend backend, BenchCase bench, int queues, int depth, double warmupSeconds, double seconds,
                      double from, double to) throws Exception {
        long ramBytes = Math.max(64L << 20, ((long) queues * depth * bench.blockSize * 2 + (16L << 20)) & ~0xfffffL);
        FrontendOptions options = FrontendOptions.qemu(queues).withQueueSize(256).withRegions(ramBytes)
                .withTimeout(Duration.ofSeconds(30));
        try (VhostUserBlkFrontend fe = VhostUserBlkFrontend.open(backend.socket(), options)) {
            long capacityBytes = fe.configView().capacity() * 512;
            long diskBlocks = capacityBytes / bench.blockSize;
            long first = (long) (diskBlocks * from);
            long slice = ((long) (diskBlocks * to) - first) / queues;
            long start = System.nanoTime();
            long warmupEnd = start + (long) (warmupSeconds * 1e9);
            long deadline = warmupEnd + (long) (seconds * 1e9);
            ExecutorService pool = Executors.newFixedThreadPool(queues);
            List<QueueWorker> workers = new ArrayList<>();
            double cores;
            try {
                List<Future<QueueWorker>> futures = new ArrayList<>();
                for (int q = 0; q < queues; q++) {
                    futures.add(pool.submit(new QueueWorker(fe.queue(q), bench, depth, first + q * slice, slice, warmupEnd, deadline)));
                }
                cores = ProcessCpu.coresBetween(backend, warmupEnd, deadline);
                for (Future<QueueWorker> f : futures) {
                    workers.add(f.get());
                }
            } finally {
                pool.shutdownNow();
            }
            fe.stop();
            long completed = workers.stream().mapToLong(w -> w.completed).sum();
            long errors = workers.stream().mapToLong(w -> w.errors).sum();
            long[] lat = LatencyRecorder.mergeSorted(workers.stream().map(w -> w.latencies).toList());
            double secs = (deadline - warmupEnd) / 1e9;
            double iops = completed / secs;
            return new Result(backend.name(), bench, queues, iops, iops * bench.blockSize / (1 << 20),
                    LatencyRecorder.percentileMicros(lat, 50), LatencyRecorder.percentileMicros(lat, 99), errors, cores,
                    workers.stream().mapToLong(w -> w.completedInWindow).sum() / secs);
        }
    }

    static void print(List<Result> results) {
        System.out.printf("%-14s %2s  %-12s %10s %9s %9s %9s %6s %12s%n", "case", "q", "backend", "IOPS", "MiB/s",
                "p50(us)", "p99(us)", "cores", "ours/qsd");
        for (Result r : results) {
            String ratio = "";
            if (r.backend().startsWith("ours")) {
                for (Result q : results) {
                    if (q.backend().equals("qsd") && q.bench() == r.bench() && q.queues() == r.queues() && q.iops() > 0) {
                        ratio = String.format(Locale.ROOT, "%.2f", r.iops() / q.iops());
                    }
                }
            }
            System.out.printf(Locale.ROOT, "%-14s %2d  %-12s %10.0f %9.1f %9.1f %9.1f %6.2f %12s%s%n", r.bench().label,
                    r.queues(), r.backend(), r.iops(), r.mibs(), r.p50(), r.p99(), r.cores(), ratio, r.errors() > 0 ? "  (" + r.errors() + " errors)" : "");
        }
    }

    static Map<String, String> parse(String[] args) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + a);
            }
            String key = a.substring(2);
            int eq = key.indexOf('=');
            if (eq >= 0) {
                m.put(key.substring(0, eq), key.substring(eq + 1));
            } else if (i + 1 < args.length) {
                m.put(key, args[++i]);
            } else {
                throw new IllegalArgumentException(a + " needs a value");
            }
        }
        return m;
    }
}
