package dev.vublk.tests.vm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The guest kernel and initramfs built by {@code scripts/guest-kit}.
 *
 * <p>{@link #get()} runs the script once per JVM; the script caches its output under
 * {@code .guest/} at the repository root, so this takes about a second once built and a
 * few tens of seconds the first time (kernel package download).
 */
public record GuestKit(Path kernel, Path initrd) {

    private static GuestKit cached;

    public GuestKit {
        if (!Files.isRegularFile(kernel) || !Files.isRegularFile(initrd)) {
            throw new VmException("guest kit files missing: " + kernel + ", " + initrd);
        }
    }

    /** Builds the kit if needed and returns it. */
    public static synchronized GuestKit get() {
        if (cached == null) {
            cached = build(repoRoot().resolve("scripts/guest-kit"));
        }
        return cached;
    }

    /** The repository root: the nearest directory above the working directory holding the kit script. */
    public static Path repoRoot() {
        Path dir = Path.of("").toAbsolutePath();
        for (Path p = dir; p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("scripts/guest-kit"))) {
                return p;
            }
        }
        throw new VmException("no scripts/guest-kit above " + dir);
    }

    static GuestKit build(Path script) {
        try {
            Process p = new ProcessBuilder("bash", script.toString(), "--quiet")
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            // The first build downloads a kernel package: allow it some minutes on a slow mirror.
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new VmException(script + " did not finish in 10 minutes");
            }
            if (p.exitValue() != 0) {
                throw new VmException(script + " failed with exit status " + p.exitValue() + ":\n" + out);
            }
            return fromEnv(out);
        } catch (IOException e) {
            throw new VmException("cannot run " + script, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmException("interrupted while building the guest kit", e);
        }
    }

    /** Reads the script's {@code GUEST_KERNEL=} / {@code GUEST_INITRD=} lines. */
    static GuestKit fromEnv(String text) {
        Map<String, String> vars = new HashMap<>();
        for (String line : text.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                vars.put(line.substring(0, eq).trim(), line.substring(eq + 1).trim());
            }
        }
        String kernel = vars.get("GUEST_KERNEL");
        String initrd = vars.get("GUEST_INITRD");
        if (kernel == null || initrd == null) {
            throw new VmException("guest-kit printed no GUEST_KERNEL/GUEST_INITRD:\n" + text);
        }
        return new GuestKit(Path.of(kernel), Path.of(initrd));
    }
}
