package dev.vublk.tests.vm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A vhost-user-blk backend process (qemu-storage-daemon, or the project's launcher) serving
 * one Unix socket. {@value #SOCKET_PLACEHOLDER} in its command is replaced by the socket
 * path. Its output goes to a log file whose tail is quoted when something fails.
 */
public final class BackendProcess implements AutoCloseable {

    public static final String SOCKET_PLACEHOLDER = "@SOCK@";

    private final Process process;
    private final Path socket;
    private final Path log;
    private final List<String> command;

    private BackendProcess(Process process, Path socket, Path log, List<String> command) {
        this.process = process;
        this.socket = socket;
        this.log = log;
        this.command = command;
    }

    /**
     * Starts {@code command} and waits until {@code socket} exists. Throws if the process
     * exits first or the socket does not appear within {@code readyTimeout}.
     */
    public static BackendProcess start(List<String> command, Path socket, Path log, Duration readyTimeout) {
        List<String> cmd = command.stream()
                .map(a -> a.replace(SOCKET_PLACEHOLDER, socket.toString()))
                .toList();
        try {
            Files.deleteIfExists(socket);
            Files.createDirectories(log.toAbsolutePath().getParent());
            Process p = new ProcessBuilder(cmd)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .start();
            BackendProcess backend = new BackendProcess(p, socket, log, cmd);
            backend.awaitSocket(readyTimeout);
            return backend;
        } catch (IOException e) {
            throw new VmException("cannot start backend " + cmd, e);
        }
    }

    private void awaitSocket(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!Files.exists(socket)) {
            if (!process.isAlive()) {
                throw new VmException("backend exited with status " + process.exitValue()
                        + " before creating " + socket + ": " + command + "\n" + logTail(30));
            }
            if (System.nanoTime() > deadline) {
                close();
                throw new VmException("backend did not create " + socket + " within " + timeout
                        + ": " + command + "\n" + logTail(30));
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                close();
                throw new VmException("interrupted while waiting for the backend", e);
            }
        }
    }

    public Path socket() {
        return socket;
    }

    public Path log() {
        return log;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Exit status after the process ended, waiting at most {@code timeout}; -1 if still running. */
    public int waitFor(Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS) ? process.exitValue() : -1;
    }

    /** The last {@code n} lines of the backend's output. */
    public String logTail(int n) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            StringBuilder sb = new StringBuilder("backend output (" + log + "):\n");
            for (String l : lines.subList(Math.max(0, lines.size() - n), lines.size())) {
                sb.append("  > ").append(l).append('\n');
            }
            return sb.toString();
        } catch (IOException e) {
            return "backend output unreadable: " + e + "\n";
        }
    }

    /** SIGKILL, as a crash would; for restart tests. */
    public void kill() {
        process.destroyForcibly();
        try {
            process.waitFor(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * SIGTERM, as an operator's restart (an upgrade) would; returns the exit status, or -1 if the
     * process was still there after {@code limit} (then it is killed).
     */
    public int terminate(java.time.Duration limit) {
        process.destroy();
        try {
            if (process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
                return process.exitValue();
            }
            threadDump();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        kill();
        return -1;
    }

    /** Appends the JVM's thread dump to the log ({@code jcmd} beside the running java): why it hangs. */
    private void threadDump() throws InterruptedException {
        Path jcmd = Path.of(ProcessHandle.current().info().command().orElse("java")).resolveSibling("jcmd");
        try {
            Process dump = new ProcessBuilder(jcmd.toString(), Long.toString(process.pid()), "Thread.print")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
            dump.waitFor(30, TimeUnit.SECONDS);
        } catch (IOException e) {
            // The dump is a diagnosis only; the caller reports the hang either way.
        }
    }

    /** SIGTERM, then SIGKILL after five seconds. */
    @Override
    public void close() {
        if (!process.isAlive()) {
            return;
        }
        process.destroy();
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                kill();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            kill();
        }
    }
}
