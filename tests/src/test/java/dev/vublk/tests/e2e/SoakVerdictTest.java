package dev.vublk.tests.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.tests.e2e.ResourceSampler.Sample;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntToLongFunction;
import org.junit.jupiter.api.Test;

/** The soak's flatness rules on made-up series: what passes, and each way of not being flat. */
class SoakVerdictTest {
    private static final double WARMUP = 10;

    /** Samples every 2 s from 0 to 30 s with RSS (KiB) and fds from the sample's index. */
    private static List<Sample> series(IntToLongFunction rssKib, IntToLongFunction fds) {
        List<Sample> out = new ArrayList<>();
        for (int i = 0; i <= 15; i++) {
            out.add(new Sample(i * 2.0, rssKib.applyAsLong(i), -1, (int) fds.applyAsLong(i), 1000, 0));
        }
        return out;
    }

    @Test
    void growthDuringTheWarmUpAndSmallNoiseAfterIsFlat() {
        List<Sample> s = series(i -> i < 5 ? 300_000 + i * 20_000L : 400_000 + (i % 2) * 2048, i -> i < 3 ? 35 : 37);
        assertEquals(List.of(), SoakVerdict.violations(s, WARMUP));
    }

    @Test
    void oneMoreFdAfterTheWarmUpIsNotFlat() {
        List<Sample> s = series(i -> 400_000, i -> i < 12 ? 37 : 38);
        List<String> v = SoakVerdict.violations(s, WARMUP);
        assertEquals(1, v.size(), v.toString());
        assertTrue(v.getFirst().startsWith("open fds went from 37 at 10 s to 38 at 24 s"), v.getFirst());
    }

    @Test
    void steadyRssGrowthBeyondTheBoundIsNotFlat() {
        // 2 MiB per sample: the fitted line rises 20 MiB over the 20 steady seconds, no single jump past 32 MiB.
        List<Sample> s = series(i -> 400_000 + i * 2048L, i -> 37);
        List<String> v = SoakVerdict.violations(s, WARMUP);
        assertEquals(1, v.size(), v.toString());
        assertTrue(v.getFirst().startsWith("RSS grows: the fitted line rises 20.0 MiB"), v.getFirst());
    }

    @Test
    void aLateJumpIsNotFlatEvenWhenTheLineAveragesIt() {
        List<Sample> s = series(i -> i == 15 ? 400_000 + 40 * 1024 : 400_000, i -> 37);
        List<String> v = SoakVerdict.violations(s, WARMUP);
        assertTrue(v.stream().anyMatch(m -> m.startsWith("RSS jumped from 390 MiB at 10 s to 430 MiB at 30 s")), v.toString());
    }

    @Test
    void tooFewSamplesAfterTheWarmUpAreNotAVerdict() {
        List<Sample> s = series(i -> 400_000, i -> 37).subList(0, 7); // up to 12 s: two steady samples
        assertEquals(List.of("only 2 samples after the 10.0 s warm-up (need 3)"), SoakVerdict.violations(s, WARMUP));
    }

    @Test
    void theWarmUpIsAFifthOfTheRunWithinItsBounds() {
        assertEquals(10, SoakVerdict.warmupSeconds(30));
        assertEquals(120, SoakVerdict.warmupSeconds(600));
        assertEquals(60, SoakVerdict.warmupSeconds(300));
    }
}
