package dev.vublk.block.storage.nbd;

import dev.vublk.uring.StreamSocket;
import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * An NBD server for a test, as a child process: qemu-nbd over a file, or nbdkit with a plugin,
 * on a Unix socket (or TCP for qemu-nbd). {@link #stop} kills it, {@link #start} brings the same
 * server back at the same address; whoever started it closes it ({@link NbdFixture} after each
 * test).
 */
public final class NbdServer implements AutoCloseable {
    private final List<String> command;
    private final Path socket;
    private final int port;
    private Process process;

    private NbdServer(List<String> command, Path socket, int port) {
        this.command = command;
        this.socket = socket;
        this.port = port;
    }

    /** qemu-nbd serving the raw {@code file} on a Unix socket, for many clients at once, until killed. */
    public static NbdServer qemuNbd(Path file, Path socket, String... extra) throws IOException {
        List<String> c = new ArrayList<>(List.of("qemu-nbd", "-f", "raw", "-k", socket.toString(), "--persistent", "--shared=16",
                "--cache=writeback"));
        c.addAll(List.of(extra));
        c.add(file.toString());
        return new NbdServer(c, socket, 0).start();
    }

    /** qemu-nbd on TCP, 127.0.0.1 and a free port. */
    static NbdServer qemuNbdTcp(Path file) throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        List<String> c = List.of("qemu-nbd", "-f", "raw", "-b", "127.0.0.1", "-p", Integer.toString(port), "--persistent",
                "--shared=16", file.toString());
        return new NbdServer(c, null, port).start();
    }

    /** nbdkit in the foreground on a Unix socket; {@code args} are its filters, plugin and parameters. */
    static NbdServer nbdkit(Path socket, String... args) throws IOException {
        List<String> c = new ArrayList<>(List.of("nbdkit", "-f", "-U", socket.toString()));
        c.addAll(List.of(args));
        return new NbdServer(c, socket, 0).start();
    }

    public String uri() {
        return socket != null ? "nbd+unix:///?socket=" + socket : "nbd://127.0.0.1:" + port + "/";
    }

    /** Starts the server and waits until it accepts connections. */
    NbdServer start() throws IOException {
        if (socket != null) {
            java.nio.file.Files.deleteIfExists(socket);
        }
        process = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.INHERIT).redirectInput(new File("/dev/null")).start();
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (true) {
            try {
                // Probed by connecting (the server logs the probe): a Unix socket's file appears at
                // bind, before the server listens, and a connect in between is refused.
                if (socket != null) {
                    if (!java.nio.file.Files.exists(socket)) {
                        throw new IOException("no socket yet at " + socket);
                    }
                    dev.vublk.uring.UnixSocket.connect(socket).close();
                } else {
                    StreamSocket.connect(java.net.InetAddress.getLoopbackAddress(), port, Duration.ofSeconds(1)).close();
                }
                return this;
            } catch (IOException e) {
                if (!process.isAlive() || System.nanoTime() > deadline) {
                    stop();
                    throw new IOException("NBD server did not come up: " + String.join(" ", command), e);
                }
                sleep(20);
            }
        }
    }

    /** Kills the server (SIGKILL: no goodbye to its clients) and waits for it to be gone. */
    void stop() {
        if (process != null) {
            process.destroyForcibly();
            try {
                process.waitFor(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            process = null;
        }
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    @Override
    public void close() {
        stop();
    }
}
