package dev.vublk.tests.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SerialLogTest {

    @Test
    void parsesResultsBetweenMarkersOfItsTest() {
        SerialLog log = new SerialLog("ch-ext4");
        for (String l : List.of(
                "[    0.3] PCI: Fatal: No config space access function found",
                "VUTEST RESULT early=ignored",
                "=== VUTEST BEGIN ch-ext4 ===\r",
                "VUTEST RESULT size=16777216\r",
                "VUTEST RESULT write_cache=write back",
                "VUTEST RESULT foo=a=b",
                "random guest noise",
                "=== VUTEST END ch-ext4 status=PASS ===",
                "VUTEST RESULT late=ignored",
                "[    3.3] reboot: Power down")) {
            log.accept(l);
        }
        assertEquals("PASS", log.status().orElseThrow());
        assertEquals(Map.of("size", "16777216", "write_cache", "write back", "foo", "a=b"), log.results());
        assertEquals(List.of("[    3.3] reboot: Power down"), log.tail(1));
    }

    @Test
    void otherTestsMarkersAndMissingEndGiveNoVerdict() {
        SerialLog log = new SerialLog("fio-verify");
        log.accept("=== VUTEST BEGIN ch-ext4 ===");
        log.accept("VUTEST RESULT size=1");
        log.accept("=== VUTEST END ch-ext4 status=PASS ===");
        log.accept("=== VUTEST BEGIN fio-verify ===");
        log.accept("VUTEST RESULT fio_rand_exit=1");
        assertTrue(log.status().isEmpty());
        assertEquals(Map.of("fio_rand_exit", "1"), log.results());
        log.accept("=== VUTEST END fio-verify status=FAIL ===");
        assertEquals("FAIL", log.status().orElseThrow());
    }

    @Test
    void tailTextQuotesLastLines() {
        SerialLog log = new SerialLog("t");
        for (int i = 0; i < 50; i++) {
            log.accept("line " + i);
        }
        String tail = log.tailText(40);
        assertTrue(tail.startsWith("  | line 10\n"), tail);
        assertTrue(tail.endsWith("  | line 49\n"), tail);
    }
}
