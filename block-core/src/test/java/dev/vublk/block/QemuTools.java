package dev.vublk.block;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs qemu-img and qemu-io (and any other command line a test needs to run to its end) for the
 * tests of every image format: the one place block-core's tests start such tools. A missing tool
 * fails the test (the project's test script installs them); every call is bounded in time.
 */
public final class QemuTools {
    public record Result(int exitCode, String stdout, String stderr) {
        public String describe() {
            return "exit " + exitCode + "\nstdout: " + stdout + "\nstderr: " + stderr;
        }
    }

    private static final long TIMEOUT_SECONDS = 120;

    private QemuTools() {}

    /**
     * Runs a command line and returns its outcome; fails if it cannot start or takes over 120 s.
     * Both pipes are drained on their own threads while this one waits for the exit: a tool that
     * fills one pipe (qemu-img check listing many leaks on stderr) never blocks on it, and a tool
     * that hangs is killed at the deadline whatever it has written.
     */
    public static Result run(String... command) {
        Process p;
        try {
            p = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        } catch (IOException e) {
            throw new AssertionError("cannot run " + command[0] + " (is it installed?): " + e.getMessage(), e);
        }
        CompletableFuture<String> out = drain(p.getInputStream());
        CompletableFuture<String> err = drain(p.getErrorStream());
        try {
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                throw new AssertionError("timed out after " + TIMEOUT_SECONDS + " s: " + String.join(" ", command)
                        + "\nstdout: " + out.join() + "\nstderr: " + err.join());
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while running " + command[0], e);
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

    /** Runs and requires exit code 0; returns stdout. */
    public static String runOk(String... command) {
        Result r = run(command);
        if (r.exitCode() != 0) {
            throw new AssertionError(String.join(" ", command) + " failed: " + r.describe());
        }
        return r.stdout();
    }

    public static String img(String... args) {
        return runOk(concat("qemu-img", args));
    }

    /** {@code qemu-img create -f FORMAT [-o OPTIONS] PATH SIZE}; options may be null. */
    public static void create(Path image, String format, String options, long size) {
        List<String> cmd = new ArrayList<>(List.of("qemu-img", "create", "-q", "-f", format));
        if (options != null && !options.isEmpty()) {
            cmd.add("-o");
            cmd.add(options);
        }
        cmd.add(image.toString());
        cmd.add(Long.toString(size));
        runOk(cmd.toArray(String[]::new));
    }

    /** qemu-io with one {@code -c} per command, image format given explicitly. */
    public static String io(Path image, String format, String... commands) {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", format));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(image.toString());
        String out = runOk(cmd.toArray(String[]::new));
        if (out.contains("failed") || out.contains("error")) {
            throw new AssertionError("qemu-io reported a failure: " + out);
        }
        return out;
    }

    /** Converts any image to raw, following its backing chain. */
    public static void toRaw(Path image, Path raw) {
        img("convert", "-O", "raw", image.toString(), raw.toString());
    }

    /** {@code qemu-img check}: exit 0 clean, 3 leaks only, 2 corruption, 1 error. */
    public static Result check(Path image, String format) {
        return run("qemu-img", "check", "-f", format, image.toString());
    }

    /** Passes when the image has neither corruptions nor check errors (leaks allowed if asked). */
    public static void assertCheckClean(Path image, String format, boolean allowLeaks) {
        Result r = check(image, format);
        if (r.exitCode() == 0 || (allowLeaks && r.exitCode() == 3)) {
            return;
        }
        throw new AssertionError("qemu-img check " + image + ": " + r.describe());
    }

    /** {@code qemu-img compare}: true when both show the same guest content. */
    public static Result compare(Path a, String formatA, Path b, String formatB) {
        return run("qemu-img", "compare", "-f", formatA, "-F", formatB, a.toString(), b.toString());
    }

    public static void assertSameContent(Path a, String formatA, Path b, String formatB) {
        Result r = compare(a, formatA, b, formatB);
        if (r.exitCode() != 0) {
            throw new AssertionError("qemu-img compare " + a + " " + b + ": " + r.describe());
        }
    }

    private static String[] concat(String first, String[] rest) {
        String[] all = new String[rest.length + 1];
        all[0] = first;
        System.arraycopy(rest, 0, all, 1, rest.length);
        return all;
    }
}
