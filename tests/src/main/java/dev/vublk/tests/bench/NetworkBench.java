package dev.vublk.tests.bench;

import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.backend.CephCluster;
import dev.vublk.tests.backend.NbdServer;
import dev.vublk.tests.backend.NetworkStore;
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
 * Network storage benchmark: ours and qemu-storage-daemon serving the same NBD export (qemu-nbd
 * over a RAW file) or the same RBD image (the throwaway test cluster), driven by the same test
 * frontend. Each repeat starts each backend once and runs every case and queue count on it; the
 * backend order alternates between repeats so a neighbour's load does not always hit the same
 * one. Each backend first runs {@code --warmup} seconds (default 2) of mixed reads and writes that
 * are not measured, so a JVM backend's just-in-time compilation does not land on whichever case
 * comes first. Prints every run, then min/median/max and the ours/qsd ratios of runs paired by
 * repeat.
 * Run through {@code scripts/bench-network}.
 */
public final class NetworkBench {
    private NetworkBench() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> o = BlkBench.parse(args);
        String store = o.getOrDefault("store", "nbd");
        Path raw = Path.of(o.getOrDefault("image", "/dev/shm/vublk-netbench.raw"));
        int repeat = Integer.parseInt(o.getOrDefault("repeat", "3"));
        int depth = Integer.parseInt(o.getOrDefault("qd", "32"));
        double seconds = Double.parseDouble(o.getOrDefault("duration", "4"));
        double warmup = Double.parseDouble(o.getOrDefault("warmup", "2"));
        List<BenchCase> cases = Arrays.stream(o.getOrDefault("cases", "randread-4k,randwrite-4k,seqread-128k,seqwrite-128k")
                .split(",")).map(c -> BenchCase.byLabel(c.trim())).toList();
        int[] queueCounts = Arrays.stream(o.getOrDefault("queues", "1,2").split(",")).mapToInt(Integer::parseInt).toArray();
        List<String> backends = List.of(o.getOrDefault("backends", "ours,qsd").split(","));
        String jar = o.get("jar");
        if (backends.contains("ours") && jar == null) {
            throw new IllegalArgumentException("--jar PATH (the shaded vhost-user-blk.jar) is required for ours");
        }
        if (!Files.exists(raw)) {
            throw new IllegalArgumentException("image " + raw + " does not exist");
        }
        int maxQueues = Arrays.stream(queueCounts).max().orElse(1);
        Path dir = Files.createTempDirectory("vublk-netbench");
        Path socket = dir.resolve("bench.sock");
        NbdServer nbd = null;
        NetworkStore net;
        switch (store) {
            case "nbd" -> {
                nbd = NbdServer.start(raw, dir.resolve("nbd.sock"));
                net = nbd.store();
            }
            case "rbd" -> {
                CephCluster ceph = CephCluster.shared();
                System.out.printf(Locale.ROOT, "# test cluster started in %.1f s%n", ceph.startSeconds());
                ceph.importImage(raw, "bench");
                net = ceph.store("bench");
            }
            default -> throw new IllegalArgumentException("--store nbd or rbd, not " + store);
        }
        System.out.printf(Locale.ROOT, "# %s: %s, QD %d, %.0f s per run after %.0f s of warm-up per backend, %d repeats; load %s%n",
                store, net.ours(), depth, seconds, warmup, repeat, AllocBench.loadAverage());
        System.out.printf("%-3s %-5s %-14s %2s %10s %9s %9s %6s %6s%n", "rep", "back", "case", "q", "IOPS", "p50(us)",
                "p99(us)", "cores", "load1");
        List<List<AllocBench.Run>> runsByCase = new ArrayList<>();
        cases.forEach(c -> runsByCase.add(new ArrayList<>()));
        try {
            for (int rep = 1; rep <= repeat; rep++) {
                List<String> order = rep % 2 == 0 ? backends.reversed() : backends;
                for (String backend : order) {
                    BackendSpec spec = new BackendSpec(raw, "raw", maxQueues, false, null, 512, true).withNetwork(net);
                    try (RunningBackend b = backend.equals("qsd") ? ProcessBackend.qsd(spec, socket)
                            : ProcessBackend.ours(spec, socket, jar)) {
                        if (warmup > 0) {
                            for (BenchCase c : List.of(BenchCase.byLabel("randread-4k"), BenchCase.byLabel("randwrite-4k"))) {
                                BlkBench.run(b, c, maxQueues, depth, warmup / 2);
                            }
                        }
                        for (int i = 0; i < cases.size(); i++) {
                            for (int queues : queueCounts) {
                                BlkBench.Result r = BlkBench.run(b, cases.get(i), queues, depth, seconds);
                                AllocBench.Run run = new AllocBench.Run(rep, backend, queues, seconds, r, AllocBench.loadAverage());
                                runsByCase.get(i).add(run);
                                System.out.printf(Locale.ROOT, "%-3d %-5s %-14s %2d %10.0f %9.0f %9.0f %6.2f %6.2f%s%n", rep,
                                        backend, cases.get(i).label, queues, r.iops(), r.p50(), r.p99(), r.cores(), run.load(),
                                        r.errors() > 0 ? "  ERRORS " + r.errors() : "");
                            }
                        }
                    }
                }
            }
        } finally {
            if (nbd != null) {
                nbd.close();
            }
        }
        for (int i = 0; i < cases.size(); i++) {
            System.out.printf("%n## %s on %s%n", cases.get(i).label, store);
            AllocBench.summarize(runsByCase.get(i), backends, queueCounts, new double[] {seconds});
        }
    }
}
