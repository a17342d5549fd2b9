package dev.vublk.tests.backend;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A backend in its own process (ours from a class path or the shaded jar, or
 * qemu-storage-daemon), its output captured in a log file. The process is killed on
 * {@link #close()} and, as a last resort, when this JVM exits.
 */
public final class ProcessBackend implements RunningBackend {
    private final String name;
    private final Path socket;
    private final Process process;
    private final Path logFile;
    private final Thread reaper;

    private ProcessBackend(String name, Path socket, Process process, Path logFile) {
        this.name = name;
        this.socket = socket;
        this.process = process;
        this.logFile = logFile;
        this.reaper = new Thread(process::destroyForcibly, "kill-" + name);
        Runtime.getRuntime().addShutdownHook(reaper);
    }

    /** Our launcher; {@code classPath} is the test class path or the shaded jar. */
    public static ProcessBackend ours(BackendSpec spec, Path socket, String classPath) throws IOException {
        return ours(spec, socket, classPath, List.of());
    }

    /** Our launcher with further options (e.g. I/O limits) after those {@code spec} gives. */
    public static ProcessBackend ours(BackendSpec spec, Path socket, String classPath, List<String> extraArgs)
            throws IOException {
        return ours(spec, socket, classPath, List.of(), extraArgs);
    }

    /** Our launcher with JVM options (e.g. a fixed heap) before its main class, and further options after those {@code spec} gives. */
    public static ProcessBackend ours(BackendSpec spec, Path socket, String classPath, List<String> jvmOptions,
                                      List<String> extraArgs) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED"));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", classPath, "dev.vublk.launcher.Main",
                "--socket-path", socket.toString(), "--blk-file", spec.location(),
                "--format", spec.format(), "--num-queues", Integer.toString(spec.numQueues()),
                "--logical-block-size", Integer.toString(spec.logicalBlockSize()),
                "--write-cache", spec.writeCache() ? "on" : "off", "--log-level", "info"));
        if (spec.readOnly()) {
            cmd.add("--read-only");
        }
        if (spec.network() != null) {
            cmd.add("--reconnect-delay");
            cmd.add(Integer.toString(spec.network().reconnectDelaySeconds()));
        }
        if (spec.serial() != null) {
            cmd.add("--serial");
            cmd.add(spec.serial());
        }
        cmd.addAll(extraArgs);
        return launch("ours-process", cmd, socket);
    }

    /** qemu-storage-daemon exporting the image as vhost-user-blk. */
    public static ProcessBackend qsd(BackendSpec spec, Path socket) throws IOException {
        String ro = spec.readOnly() ? ",read-only=on" : "";
        String protocol = spec.network() != null ? spec.network().qsdBlockdev() : "driver=file,filename=" + spec.image();
        List<String> cmd = List.of("qemu-storage-daemon",
                "--blockdev", protocol + ",node-name=file0" + ro,
                "--blockdev", "driver=" + spec.format() + ",node-name=disk0,file=file0" + ro,
                "--export", "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=" + socket
                        + ",writable=" + (spec.readOnly() ? "off" : "on") + ",num-queues=" + spec.numQueues()
                        + ",logical-block-size=" + spec.logicalBlockSize());
        return launch("qsd", cmd, socket);
    }

    private static ProcessBackend launch(String name, List<String> cmd, Path socket) throws IOException {
        Files.deleteIfExists(socket);
        Path log = Files.createTempFile("vublk-" + name, ".log");
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        } catch (IOException e) {
            throw new IOException("cannot start " + cmd.getFirst() + " (is it installed?): " + e.getMessage(), e);
        }
        ProcessBackend b = new ProcessBackend(name, socket, p, log);
        try {
            b.awaitSocket();
        } catch (IOException | RuntimeException e) {
            b.close();
            throw e;
        }
        return b;
    }

    private void awaitSocket() throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(socket)) {
            if (!process.isAlive()) {
                throw new IOException(name + " exited with " + process.exitValue() + " before listening: " + log());
            }
            if (System.nanoTime() > deadline) {
                throw new IOException(name + " did not create " + socket + " within 30 s: " + log());
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted");
            }
        }
    }

    public Process process() {
        return process;
    }

    public long pid() {
        return process.pid();
    }

    public boolean alive() {
        return process.isAlive();
    }

    @Override
    public Path socket() {
        return socket;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String log() {
        try {
            return Files.readString(logFile, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** SIGTERM, then SIGKILL after 10 s; always reaped. */
    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(reaper);
        } catch (IllegalStateException ignored) {
            // the JVM is already shutting down; the hook runs anyway
        }
        try {
            Files.deleteIfExists(logFile);
        } catch (IOException ignored) {
            // a temp file
        }
    }
}
