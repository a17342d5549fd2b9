package dev.vublk.tests.backend;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The throwaway single-node Ceph cluster of {@code scripts/ceph-test-cluster}, started once per
 * JVM on first use and removed when the JVM exits, with the {@code rbd} commands tests need to
 * make, fill and read back images.
 */
public final class CephCluster {
    public static final String POOL = "rbd";

    private static CephCluster shared;

    private final Path script;
    private final Path dir;
    private final double startSeconds;

    private CephCluster(Path script, Path dir, double startSeconds) {
        this.script = script;
        this.dir = dir;
        this.startSeconds = startSeconds;
    }

    /** The cluster of this JVM, started on the first call (the script installs Ceph when missing). */
    public static synchronized CephCluster shared() throws IOException {
        if (shared == null) {
            Path script = repoRoot().resolve("scripts/ceph-test-cluster");
            Path dir = Files.createTempDirectory("vublk-ceph");
            long t0 = System.nanoTime();
            run(List.of(script.toString(), "start", dir.toString()), 300);
            CephCluster c = new CephCluster(script, dir, (System.nanoTime() - t0) / 1e9);
            Runtime.getRuntime().addShutdownHook(new Thread(c::stopQuietly, "ceph-test-cluster-stop"));
            shared = c;
        }
        return shared;
    }

    /** The repository's root: the first directory above the working directory holding the script. */
    public static Path repoRoot() throws IOException {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("scripts/ceph-test-cluster"))) {
                return p;
            }
        }
        throw new IOException("no scripts/ceph-test-cluster above " + Path.of("").toAbsolutePath());
    }

    public Path conf() {
        return dir.resolve("ceph.conf");
    }

    /** How long {@code start} took, for reports. */
    public double startSeconds() {
        return startSeconds;
    }

    /** How our backend and qemu-storage-daemon name image {@code name}. */
    public NetworkStore store(String name) {
        return NetworkStore.rbd(conf(), POOL, name);
    }

    /** Creates image {@code name} with the content of a RAW file (replacing an image of that name). */
    public void importImage(Path raw, String name) throws IOException {
        removeImage(name);
        rbd("import", "--no-progress", raw.toString(), POOL + "/" + name);
    }

    /** Writes image {@code name}'s content (or a snapshot's, {@code name@snap}) to a RAW file. */
    public Path exportImage(String name, Path raw) throws IOException {
        Files.deleteIfExists(raw);
        rbd("export", "--no-progress", POOL + "/" + name, raw.toString());
        return raw;
    }

    public void removeImage(String name) throws IOException {
        String images = rbd("ls", POOL);
        if (images.lines().anyMatch(name::equals)) {
            rbd("snap", "purge", "--no-progress", POOL + "/" + name);
            rbd("rm", "--no-progress", POOL + "/" + name);
        }
    }

    /** Runs {@code rbd} against this cluster; its output, or an IOException with it. */
    public String rbd(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("rbd", "-c", conf().toString()));
        cmd.addAll(List.of(args));
        return run(cmd, 120);
    }

    /**
     * Stops the OSD with SIGSTOP, as a hung or cut-off storage node: clients' operations wait on
     * it. (Its store is in memory, so it is paused rather than killed: a restarted memstore OSD
     * would come back empty.)
     */
    public void pauseOsd() throws IOException {
        signalOsd("STOP");
    }

    /** Lets a paused OSD go on (SIGCONT). */
    public void resumeOsd() throws IOException {
        signalOsd("CONT");
    }

    private void signalOsd(String signal) throws IOException {
        String pid = Files.readString(dir.resolve("run/osd.0.pid")).strip();
        run(List.of("kill", "-" + signal, pid), 30);
    }

    private void stopQuietly() {
        try {
            run(List.of(script.toString(), "stop", dir.toString()), 120);
        } catch (IOException e) {
            System.err.println("ceph-test-cluster stop: " + e.getMessage());
        }
    }

    private static String run(List<String> cmd, int timeoutSeconds) throws IOException {
        Path out = Files.createTempFile("vublk-ceph-cmd", ".log"); // a file, so a chatty command never blocks on a pipe
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            boolean done = p.waitFor(timeoutSeconds, TimeUnit.SECONDS);
            if (!done) {
                p.destroyForcibly();
            }
            String text = Files.readString(out, StandardCharsets.UTF_8);
            if (!done) {
                throw new IOException(String.join(" ", cmd) + ": no answer in " + timeoutSeconds + " s: " + text);
            }
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", cmd) + ": exit " + p.exitValue() + ": " + text);
            }
            return text;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } finally {
            Files.deleteIfExists(out);
        }
    }
}
