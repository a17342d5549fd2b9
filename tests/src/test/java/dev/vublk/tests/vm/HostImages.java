package dev.vublk.tests.vm;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Host-side image preparation and checks for VM tests. */
public final class HostImages {

    private HostImages() {
    }

    /**
     * The cloud-hypervisor test image: a 16 MiB ext4 filesystem holding file {@code foo}
     * with content {@code bar}, made by {@code mkfs.ext4 -d} (no mount needed).
     */
    public static Path ext4WithFoo(Path dir) throws IOException {
        Path content = Files.createDirectories(dir.resolve("ext4-content"));
        Files.writeString(content.resolve("foo"), "bar");
        Path image = dir.resolve("ext4.img");
        run(List.of("mkfs.ext4", "-q", "-F", "-d", content.toString(), image.toString(), "16M"));
        return image;
    }

    /** A zero-filled (sparse) raw image of {@code bytes}. */
    public static Path rawImage(Path dir, String name, long bytes) throws IOException {
        Path image = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(bytes);
        }
        return image;
    }

    /** Hex sha256 of the first {@code bytes} of {@code file}; fails if the file is shorter. */
    public static String sha256(Path file, long bytes) throws IOException {
        MessageDigest md = sha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 20];
            long left = bytes;
            while (left > 0) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, left));
                if (n < 0) {
                    throw new IOException(file + " is shorter than " + bytes + " bytes");
                }
                md.update(buf, 0, n);
                left -= n;
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** Hex sha256 of {@code bytes} zero bytes. */
    public static String zeroSha256(long bytes) {
        MessageDigest md = sha256();
        byte[] zeros = new byte[1 << 20];
        for (long left = bytes; left > 0; left -= zeros.length) {
            md.update(zeros, 0, (int) Math.min(zeros.length, left));
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** The guest's pattern tests' data: "vublk-pattern-SEED\n" repeated, cut to {@code bytes}. */
    public static byte[] pattern(int seed, int bytes) {
        byte[] line = ("vublk-pattern-" + seed + "\n").getBytes(StandardCharsets.US_ASCII);
        byte[] out = new byte[bytes];
        for (int i = 0; i < bytes; i++) {
            out[i] = line[i % line.length];
        }
        return out;
    }

    public static String sha256(byte[] data) {
        return HexFormat.of().formatHex(sha256().digest(data));
    }

    /** What a host tool did: its exit status and both of its output streams. */
    public record Result(int exitCode, String stdout, String stderr) {
        public String describe() {
            return "exit " + exitCode + "\nstdout: " + stdout + "\nstderr: " + stderr;
        }
    }

    /**
     * Runs a host tool to its end (at most two minutes, then it is killed) and returns what it
     * did. Both pipes are drained on their own threads while this one waits: a tool filling one
     * (qemu-img check listing leaks on stderr) never blocks on it. The one place the tests module
     * starts such tools; block-core's tests have their own (QemuTools), since this module does not
     * build on block-core's test classes.
     */
    public static Result exec(List<String> command) throws IOException {
        Process p = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        CompletableFuture<String> out = drain(p.getInputStream());
        CompletableFuture<String> err = drain(p.getErrorStream());
        try {
            if (!p.waitFor(2, TimeUnit.MINUTES)) {
                p.destroyForcibly().waitFor();
                throw new IOException(command + " timed out after 2 minutes\nstdout: " + out.join() + "\nstderr: " + err.join());
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + command, e);
        }
        return new Result(p.exitValue(), out.join(), err.join());
    }

    private static CompletableFuture<String> drain(InputStream in) {
        CompletableFuture<String> text = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try (in) {
                text.complete(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                text.complete("(unreadable: " + e.getMessage() + ")");
            }
        });
        return text;
    }

    /** Runs a host tool; a missing tool or non-zero exit fails with both its streams. Returns stdout. */
    public static String run(List<String> command) throws IOException {
        Result r = exec(command);
        if (r.exitCode() != 0) {
            throw new IOException(command + " failed: " + r.describe());
        }
        return r.stdout();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
