package dev.vublk.block;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The process runner every block-core test starts qemu-img through. */
class QemuToolsTest {
    @Test
    void exitStatusAndBothStreamsComeBackApart() {
        QemuTools.Result r = QemuTools.run("sh", "-c", "echo out; echo err >&2; exit 3");
        assertEquals(new QemuTools.Result(3, "out\n", "err\n"), r);
    }

    /**
     * A tool that fills stderr before it writes stdout (qemu-img check listing thousands of leaks)
     * must not block on the pipe: with one stream read after the other, this never ends.
     */
    @Test
    void aToolWritingMegabytesToBothStreamsRunsToItsEnd() {
        QemuTools.Result r = QemuTools.run("sh", "-c", "head -c 4194304 /dev/zero | tr '\\0' e >&2; head -c 4194304 /dev/zero | tr '\\0' o");
        assertEquals(0, r.exitCode(), r.stderr().length() + " bytes on stderr");
        assertEquals("o".repeat(4 << 20), r.stdout());
        assertEquals("e".repeat(4 << 20), r.stderr());
    }
}
