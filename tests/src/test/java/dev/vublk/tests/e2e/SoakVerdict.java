package dev.vublk.tests.e2e;

import dev.vublk.tests.e2e.ResourceSampler.Sample;
import java.util.ArrayList;
import java.util.List;

/**
 * Whether a soak's samples are flat, and the table that shows them. Flat means, over the samples
 * taken at or after the warm-up (a fresh JVM loads classes, compiles and sizes its heap first):
 * <ul>
 *   <li>at least {@link #MIN_STEADY_SAMPLES} of them;</li>
 *   <li>open fds: every one equals the first one, exactly (a leak of one fd shows);</li>
 *   <li>RSS: the least-squares line through them rises by at most {@link #FITTED_GROWTH_KIB}
 *       over the steady window (for a 10-minute soak, 8 steady minutes: a slope under 2 MiB per
 *       minute), and no sample is more than {@link #PEAK_GROWTH_KIB} above the first (a single
 *       jump the line would average away).</li>
 * </ul>
 * PSS is shown, not judged: it moves with pages shared with other processes.
 */
final class SoakVerdict {
    static final int MIN_STEADY_SAMPLES = 3;
    static final long FITTED_GROWTH_KIB = 16 << 10, PEAK_GROWTH_KIB = 32 << 10;

    private SoakVerdict() {}

    /** The warm-up for a soak of {@code seconds}: a fifth of it, at least 10 s and at most 2 minutes. */
    static double warmupSeconds(double seconds) {
        return Math.clamp(seconds / 5, 10, 120);
    }

    /** Everything not flat about the samples after {@code warmupSeconds}; empty when flat. */
    static List<String> violations(List<Sample> samples, double warmupSeconds) {
        List<Sample> steady = steady(samples, warmupSeconds);
        List<String> v = new ArrayList<>();
        if (steady.size() < MIN_STEADY_SAMPLES) {
            v.add("only " + steady.size() + " samples after the " + warmupSeconds + " s warm-up (need " + MIN_STEADY_SAMPLES + ")");
            return v;
        }
        Sample first = steady.getFirst();
        for (Sample s : steady) {
            if (s.fds() != first.fds()) {
                v.add(String.format("open fds went from %d at %.0f s to %d at %.0f s", first.fds(), first.seconds(), s.fds(),
                        s.seconds()));
                break;
            }
        }
        double growth = fittedGrowthKib(steady);
        if (growth > FITTED_GROWTH_KIB) {
            v.add(String.format("RSS grows: the fitted line rises %.1f MiB from %.0f s to %.0f s (bound %d MiB)",
                    growth / 1024, first.seconds(), steady.getLast().seconds(), FITTED_GROWTH_KIB >> 10));
        }
        for (Sample s : steady) {
            if (s.rssKib() - first.rssKib() > PEAK_GROWTH_KIB) {
                v.add(String.format("RSS jumped from %d MiB at %.0f s to %d MiB at %.0f s (bound +%d MiB)", first.rssKib() >> 10,
                        first.seconds(), s.rssKib() >> 10, s.seconds(), PEAK_GROWTH_KIB >> 10));
                break;
            }
        }
        return v;
    }

    private static List<Sample> steady(List<Sample> samples, double warmupSeconds) {
        return samples.stream().filter(s -> s.seconds() >= warmupSeconds).toList();
    }

    /** The least-squares slope of RSS over time times the window's length, in KiB. */
    static double fittedGrowthKib(List<Sample> steady) {
        int n = steady.size();
        double mt = 0, mr = 0;
        for (Sample s : steady) {
            mt += s.seconds() / n;
            mr += s.rssKib() / (double) n;
        }
        double cov = 0, var = 0;
        for (Sample s : steady) {
            cov += (s.seconds() - mt) * (s.rssKib() - mr);
            var += (s.seconds() - mt) * (s.seconds() - mt);
        }
        double window = steady.getLast().seconds() - steady.getFirst().seconds();
        return var == 0 ? 0 : cov / var * window;
    }

    /** The samples as a table, one row each, steady ones marked, and the verdict line. */
    static String table(String title, List<Sample> samples, double warmupSeconds, List<String> violations) {
        StringBuilder b = new StringBuilder(title).append('\n');
        b.append(String.format("%8s %10s %10s %6s %9s %7s%n", "time_s", "rss_mib", "pss_mib", "fds", "iops", "errors"));
        for (Sample s : samples) {
            b.append(String.format("%8.1f %10.1f %10s %6d %9.0f %7d%s%n", s.seconds(), s.rssKib() / 1024.0,
                    s.pssKib() < 0 ? "-" : String.format("%.1f", s.pssKib() / 1024.0), s.fds(), s.iops(), s.errors(),
                    s.seconds() < warmupSeconds ? "  (warm-up)" : ""));
        }
        List<Sample> steady = steady(samples, warmupSeconds);
        if (steady.size() >= 2) {
            double window = steady.getLast().seconds() - steady.getFirst().seconds();
            double growth = fittedGrowthKib(steady) / 1024;
            long peak = steady.stream().mapToLong(Sample::rssKib).max().orElseThrow() - steady.getFirst().rssKib();
            b.append(String.format("steady %.0f s: RSS fitted growth %.2f MiB (%.3f MiB/min), peak +%.1f MiB; fds %d to %d%n",
                    window, growth, growth / window * 60, peak / 1024.0,
                    steady.stream().mapToInt(Sample::fds).min().orElseThrow(),
                    steady.stream().mapToInt(Sample::fds).max().orElseThrow()));
        }
        b.append(violations.isEmpty() ? "flat: yes" : "flat: NO: " + String.join("; ", violations)).append('\n');
        return b.toString();
    }
}
