package dev.vublk.tests.backend;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code qemu-nbd} exporting a RAW file on a Unix socket, as a child process: the NBD server
 * the end-to-end tests and the benchmark put under a backend. It can be killed and started
 * again on the same socket, as a storage server that goes away and comes back.
 */
public final class NbdServer implements AutoCloseable {
    public static final String EXPORT = "disk";

    private final Path file;
    private final Path socket;
    private final Path log;
    private Process process;

    private NbdServer(Path file, Path socket, Path log) {
        this.file = file;
        this.socket = socket;
        this.log = log;
    }

    /** Serves {@code file} on {@code socket} to any number of clients at once. */
    public static NbdServer start(Path file, Path socket) throws IOException {
        NbdServer s = new NbdServer(file, socket, Files.createTempFile("vublk-qemu-nbd", ".log"));
        s.restart();
        return s;
    }

    /** Where our backend and qemu-storage-daemon find the export. */
    public NetworkStore store() {
        return NetworkStore.nbdUnix(socket, EXPORT);
    }

    /** Starts the server (again) and waits until it listens. */
    public void restart() throws IOException {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException("qemu-nbd is running");
        }
        Files.deleteIfExists(socket);
        List<String> cmd = List.of("qemu-nbd", "--format=raw", "--persistent", "--shared=0", "--export-name=" + EXPORT,
                "--socket=" + socket, "--cache=writeback", file.toString());
        process = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!Files.exists(socket)) {
            if (!process.isAlive() || System.nanoTime() > deadline) {
                process.destroyForcibly();
                throw new IOException("qemu-nbd did not start listening on " + socket + ": " + Files.readString(log));
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
        }
    }

    /** Kills the server as a crash would (SIGKILL) and waits for it to be gone. */
    public void kill() throws IOException {
        process.destroyForcibly();
        try {
            process.waitFor(20, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    @Override
    public void close() throws IOException {
        if (process != null) {
            kill();
        }
        Files.deleteIfExists(socket);
        Files.deleteIfExists(log);
    }
}
