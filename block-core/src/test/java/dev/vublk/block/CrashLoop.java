package dev.vublk.block;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The tally of one SIGKILL crash loop: how many rounds it runs, and what it found over all of
 * them. A loop counts every corruption and every lost flushed write instead of stopping at the
 * first, so a long run (scripts/crash-loops) reports figures; {@link #finish} then fails the test
 * if either count is not zero, with the first findings as the message.
 *
 * <p>The round count is the system property {@code vublk.crash.rounds}, or the loop's own short
 * default for the suite. With {@code vublk.crash.report} naming a file, {@link #finish} appends
 * one line to it: {@code loop format rounds corruptions lost-flushed-writes seconds}.
 */
public final class CrashLoop {
    private static final int KEPT_FINDINGS = 5;

    private final String name;
    private final String format;
    private final int rounds;
    private final long startNanos = System.nanoTime();
    private final List<String> findings = new ArrayList<>();
    private int corruptions;
    private int lostFlushedWrites;
    private int roundsDone;

    private CrashLoop(String name, String format, int rounds) {
        this.name = name;
        this.format = format;
        this.rounds = rounds;
    }

    /** A loop named {@code name} over {@code format} images, {@code defaultRounds} long unless the property says. */
    public static CrashLoop start(String name, String format, int defaultRounds) {
        int rounds = Integer.getInteger("vublk.crash.rounds", defaultRounds);
        if (rounds < 1) {
            throw new IllegalArgumentException("vublk.crash.rounds must be at least 1, not " + rounds);
        }
        return new CrashLoop(name, format, rounds);
    }

    public int rounds() {
        return rounds;
    }

    public void roundDone() {
        roundsDone++;
    }

    public int corruptions() {
        return corruptions;
    }

    public int lostFlushedWrites() {
        return lostFlushedWrites;
    }

    /**
     * Runs {@code qemu-img check} on the image after a round; a corruption or check error (leaks
     * are what a kill may leave, so they pass) is counted. Returns whether the image is clean.
     */
    public boolean check(int round, Path image) {
        QemuTools.Result r = QemuTools.check(image, format);
        if (r.exitCode() == 0 || r.exitCode() == 3) {
            return true;
        }
        corruption(round, "qemu-img check: " + r.describe());
        return false;
    }

    /** Counts a corruption: the image (or what it shows) is not what any crash may leave. */
    public void corruption(int round, String what) {
        corruptions++;
        note(round, "corruption: " + what);
    }

    /** Counts a write acknowledged before a completed flush that does not read back after the kill. */
    public void lostFlushedWrite(int round, String what) {
        lostFlushedWrites++;
        note(round, "lost flushed write: " + what);
    }

    private void note(int round, String what) {
        if (findings.size() < KEPT_FINDINGS) {
            findings.add("round " + round + ": " + what);
        }
    }

    /** Writes the report line (if asked for) and fails when any round found a corruption or a lost write. */
    public void finish() throws IOException {
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        String report = System.getProperty("vublk.crash.report");
        if (report != null && !report.isBlank()) {
            String line = String.format("%s %s %d %d %d %.1f%n", name, format, roundsDone, corruptions, lostFlushedWrites, seconds);
            Files.writeString(Path.of(report), line, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
        }
        if (corruptions != 0 || lostFlushedWrites != 0) {
            throw new AssertionError(name + " over " + roundsDone + " rounds: " + corruptions + " corruptions, "
                    + lostFlushedWrites + " lost flushed writes; first findings:\n  " + String.join("\n  ", findings));
        }
        if (roundsDone != rounds) {
            throw new AssertionError(name + " ran " + roundsDone + " of its " + rounds + " rounds");
        }
    }
}
