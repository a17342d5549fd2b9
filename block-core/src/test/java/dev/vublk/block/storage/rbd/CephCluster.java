package dev.vublk.block.storage.rbd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.block.QemuTools;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The test JVM's throwaway Ceph cluster: {@code scripts/ceph-test-cluster start} on first use
 * (about 8 s; the script installs Ceph's packages when missing), shared by every RBD test class,
 * stopped and removed when the JVM exits. Creates images with the {@code rbd} CLI, which also
 * serves as the second implementation that judges what our writes left in the image.
 */
public final class CephCluster {
    private static CephCluster shared;

    private final Path script;
    private final Path dir;
    private final AtomicInteger images = new AtomicInteger();

    private CephCluster(Path script, Path dir) {
        this.script = script;
        this.dir = dir;
    }

    /** The running cluster, started by the first caller. */
    public static synchronized CephCluster shared() {
        if (shared == null) {
            Path script = findScript();
            Path dir;
            try {
                dir = Files.createTempDirectory("vublk-ceph");
            } catch (IOException e) {
                throw new AssertionError("cannot make the cluster's directory", e);
            }
            CephCluster c = new CephCluster(script, dir);
            Runtime.getRuntime().addShutdownHook(new Thread(c::stop, "ceph-test-cluster stop"));
            QemuTools.Result r = QemuTools.run(script.toString(), "start", dir.toString());
            assertEquals(0, r.exitCode(), "ceph-test-cluster start: " + r.describe());
            shared = c;
        }
        return shared;
    }

    /** Walks up from the working directory (a module) to the repository's scripts. */
    private static Path findScript() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path script = p.resolve("scripts/ceph-test-cluster");
            if (Files.isExecutable(script)) {
                return script;
            }
        }
        throw new AssertionError("scripts/ceph-test-cluster not found above " + Path.of("").toAbsolutePath());
    }

    private void stop() {
        QemuTools.run(script.toString(), "stop", dir.toString());
    }

    public Path conf() {
        return dir.resolve("ceph.conf");
    }

    /** The cluster's directory (daemons' pid files are in {@code run/}). */
    public Path dir() {
        return dir;
    }

    /** Sends the OSD a signal ({@code STOP}, {@code CONT}) through kill(1). */
    public void signalOsd(String signal) throws IOException {
        String pid = Files.readString(dir.resolve("run/osd.0.pid")).trim();
        QemuTools.Result r = QemuTools.run("kill", "-" + signal, pid);
        assertEquals(0, r.exitCode(), "kill -" + signal + " osd.0: " + r.describe());
    }

    /** A fresh image of {@code size} bytes in pool rbd; returns its name. */
    public String createImage(long size) {
        String name = "img" + images.incrementAndGet();
        rbd("create", "--size", size + "B", "rbd/" + name);
        return name;
    }

    /** Our RBD filename of {@code image} (may carry {@code @SNAPSHOT}) on this cluster. */
    public String spec(String image) {
        return "rbd:rbd/" + image + ":conf=" + conf();
    }

    /** Runs the rbd CLI on this cluster; fails unless it exits 0; returns its stdout. */
    public String rbd(String... args) {
        QemuTools.Result r = run("rbd", args);
        assertEquals(0, r.exitCode(), "rbd " + String.join(" ", args) + ": " + r.describe());
        return r.stdout();
    }

    /** Runs {@code tool} (rbd, ceph) with this cluster's conf. */
    public QemuTools.Result run(String tool, String... args) {
        List<String> command = new ArrayList<>(List.of(tool, "-c", conf().toString()));
        command.addAll(List.of(args));
        return QemuTools.run(command.toArray(String[]::new));
    }

    /** The image's bytes as {@code rbd export} reads them (librbd's own read path, another process). */
    public byte[] export(String image) throws IOException {
        Path file = Files.createTempFile(dir, "export", ".raw");
        try {
            Files.delete(file);
            rbd("export", "--no-progress", "rbd/" + image, file.toString());
            return Files.readAllBytes(file);
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
