package dev.vublk.block;

import dev.vublk.uring.NativeFile;
import dev.vublk.uring.OfdLocks;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Other processes that keep an image open, for the locking tests: this backend's own image
 * opening in a child JVM ({@link #main}), qemu-io in interactive mode and qemu-storage-daemon
 * with the image as a block node. Each is ready once started and ends when closed.
 */
public final class ImageHolders {
    /** A process holding an image open; closing it ends the process and waits for it. */
    static final class Holder implements AutoCloseable {
        private final Process process;
        private final String firstLine;

        private Holder(Process process, String firstLine) {
            this.process = process;
            this.firstLine = firstLine;
        }

        /** The first line the process printed once it had the image open (or was refused). */
        String firstLine() {
            return firstLine;
        }

        @Override
        public void close() throws Exception {
            process.getOutputStream().close(); // the child and qemu-io end at end of input
            process.destroy();                  // qemu-storage-daemon ends on SIGTERM
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
                throw new AssertionError("image holder did not end");
            }
        }
    }

    private ImageHolders() {}

    /**
     * Waits (at most 30 s) until no process holds {@link ImageLocks} on {@code image}. A writer
     * killed with I/O in flight keeps its locks until the kernel has finished that I/O, which
     * io_uring does after the process is gone: the image is not to be opened again before.
     */
    public static void awaitUnlocked(Path image) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        try (NativeFile probe = NativeFile.open(image, false, false)) {
            while (OfdLocks.conflicting(probe, 100, 104, OfdLocks.Type.EXCLUSIVE) != null) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("the locks on " + image + " were never released");
                }
                Thread.sleep(5);
            }
        }
    }

    /**
     * The child JVM: opens {@code args[0]} through {@link Images#open} read-write ("rw") or
     * read-only ("ro"), with locking ("lock") or without ("no-lock"); prints "open" or
     * "refused: " and the reason, and holds the image until its standard input ends.
     */
    public static void main(String[] args) throws IOException {
        ImageOptions options = ImageOptions.defaults().withReadOnly(args[1].equals("ro"))
                .withLocking(args[2].equals("lock"));
        BlockImage image;
        try {
            image = Images.open(Path.of(args[0]), null, options);
        } catch (IOException e) {
            System.out.println("refused: " + e.getMessage());
            return;
        }
        try (image) {
            System.out.println("open");
            System.out.flush();
            while (System.in.read() >= 0) {
                // hold the image until the parent closes our input
            }
        }
    }

    /** This backend in another process, opened as {@link #main} says; ready when it printed its line. */
    static Holder ours(Path image, String access, String locking) throws IOException {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "--enable-native-access=ALL-UNNAMED", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                ImageHolders.class.getName(), image.toString(), access, locking));
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        return new Holder(p, firstLine(p));
    }

    /** qemu-io in interactive mode (read-only with {@code -r}); ready once it answered "length". */
    static Holder qemuIo(Path image, String format, boolean readOnly) throws IOException {
        List<String> command = new ArrayList<>(List.of("qemu-io", "-f", format));
        if (readOnly) {
            command.add("-r");
        }
        command.add(image.toString());
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        OutputStream in = p.getOutputStream();
        in.write("length\n".getBytes(StandardCharsets.US_ASCII));
        in.flush();
        return new Holder(p, firstLine(p));
    }

    /**
     * qemu-storage-daemon with {@code image} as a writable qcow2 node over a file node; ready once
     * its NBD server's socket (set up after the nodes) exists.
     */
    static Holder storageDaemon(Path image, Path socket) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("qemu-storage-daemon",
                "--blockdev", "driver=file,node-name=file0,filename=" + image,
                "--blockdev", "driver=qcow2,node-name=disk0,file=file0",
                "--nbd-server", "addr.type=unix,addr.path=" + socket)
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(socket)) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                p.destroyForcibly().waitFor();
                throw new AssertionError("qemu-storage-daemon did not start (exit " + (p.isAlive() ? "none" : p.exitValue()) + ")");
            }
            Thread.sleep(20);
        }
        return new Holder(p, "");
    }

    private static String firstLine(Process p) throws IOException {
        String line = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)).readLine();
        if (line == null) {
            p.destroyForcibly();
            throw new AssertionError("image holder ended without a word");
        }
        return line;
    }
}
