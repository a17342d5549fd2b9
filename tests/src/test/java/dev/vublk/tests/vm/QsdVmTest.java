package dev.vublk.tests.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Proves the guest kit and the runner against qemu-storage-daemon, QEMU's own
 * vhost-user-blk backend: every guest test boots, reports, and agrees with the image file.
 */
@Tag("vm")
class QsdVmTest {

    private static final long MIB = 1 << 20;

    private static GuestKit kit;

    @TempDir
    Path dir;

    @BeforeAll
    static void buildKit() {
        kit = GuestKit.get();
    }

    private VmRunner runner() {
        return new VmRunner(kit, dir);
    }

    @Test
    void cloudHypervisorExt4Case() throws IOException {
        Path image = HostImages.ext4WithFoo(dir);
        GuestResult r = runner().run(VmSpec.of("ch-ext4"), QemuStorageDaemon.rawExport(image, 1, true));
        assertEquals(16 * MIB, r.getLong("size"));
        assertEquals("0", r.get("ro"));
        assertEquals("1", r.get("queues"));
        assertEquals("ok", r.get("mount"));
        assertEquals("bar", r.get("foo"));
    }

    @Test
    void readOnlyExportRefusesWrites() throws IOException {
        Path image = HostImages.ext4WithFoo(dir);
        String before = HostImages.sha256(image, MIB);
        GuestResult r = runner().run(VmSpec.of("ro-write"), QemuStorageDaemon.rawExport(image, 1, false));
        assertEquals("1", r.get("ro"));
        assertEquals("failed", r.get("write"));
        assertEquals(before, r.get("before_sha256"));
        assertEquals(before, r.get("after_sha256"));
        assertEquals(before, HostImages.sha256(image, MIB));
    }

    @ParameterizedTest(name = "{0} queue(s)")
    @ValueSource(ints = {1, 2})
    void fioVerifiesAndGuestAgreesWithImage(int queues) throws IOException {
        Path image = HostImages.rawImage(dir, "fio.img", 96 * MIB);
        GuestResult r = runner().run(VmSpec.of("fio-verify").withQueues(queues),
                QemuStorageDaemon.rawExport(image, queues, true));
        assertEquals(Integer.toString(queues), r.get("queues"));
        assertEquals(96 * MIB, r.getLong("size"));
        assertEquals("64", r.get("mib"));
        for (String pass : new String[] {"rand", "seq"}) {
            assertEquals("0", r.get("fio_" + pass + "_exit"), pass + " exit status");
            assertEquals("0", r.get("fio_" + pass + "_err"), pass + " error");
        }
        String host = HostImages.sha256(image, 64 * MIB);
        assertEquals(host, r.get("sha256"), "guest and image file differ");
        assertNotEquals(HostImages.zeroSha256(64 * MIB), host, "fio wrote nothing");
        for (int q = 0; q < queues; q++) {
            String key = "irq_virtio0-req." + q;
            assertTrue(r.getLong(key) > 0, "queue " + q + " unused: " + r.results());
        }
    }

    @Test
    void fsyncSendsFlushWithWriteBackCache() throws IOException {
        Path image = HostImages.rawImage(dir, "flush.img", 16 * MIB);
        GuestResult r = runner().run(VmSpec.of("fsync-flush"), QemuStorageDaemon.rawExport(image, 1, true));
        assertEquals("write back", r.get("write_cache"));
        assertEquals("ok", r.get("fsync"));
        assertTrue(r.getLong("flushes") >= 1, "no FLUSH completed: " + r.results());
        String expected = HostImages.sha256(HostImages.pattern(1, (int) (4 * MIB)));
        assertEquals(expected, r.get("pattern_sha256"));
        assertEquals(expected, r.get("sha256"));
        assertEquals(expected, HostImages.sha256(image, 4 * MIB));
    }

    @Test
    void discardAndWriteZeroes() throws IOException {
        Path image = HostImages.rawImage(dir, "discard.img", 16 * MIB);
        GuestResult r = runner().run(VmSpec.of("discard"), QemuStorageDaemon.rawExport(image, 1, true));
        assertEquals("ok", r.get("discard"));
        assertTrue(r.getLong("discards") >= 1, "no discard completed: " + r.results());
        assertEquals("ok", r.get("write_zeroes"));
        String zeros = HostImages.zeroSha256(2 * MIB);
        assertEquals(zeros, r.get("sha256"));
        assertEquals(zeros, HostImages.sha256(image, 2 * MIB));
    }

    @Test
    void patternSurvivesBackendRestart() throws IOException {
        Path image = HostImages.rawImage(dir, "pattern.img", 16 * MIB);
        VmRunner vm = runner();
        VmSpec write = VmSpec.of("write-pattern").withArg("seed", "5").withArg("mib", "4");
        GuestResult w = vm.run(write, QemuStorageDaemon.rawExport(image, 1, true));
        String expected = HostImages.sha256(HostImages.pattern(5, (int) (4 * MIB)));
        assertEquals(expected, w.get("sha256"));
        assertEquals(expected, HostImages.sha256(image, 4 * MIB));

        VmSpec read = VmSpec.of("read-pattern").withArg("seed", "5").withArg("mib", "4");
        GuestResult rd = vm.run(read, QemuStorageDaemon.rawExport(image, 1, true));
        assertEquals(Map.of("mib", "4", "pattern_sha256", expected, "sha256", expected, "match", "yes"),
                rd.results());
    }

    @Test
    void guestFailureReportsConsoleAndResults() throws IOException {
        Path image = HostImages.rawImage(dir, "blank.img", 16 * MIB);
        VmException e = assertThrows(VmException.class, () -> runner().run(VmSpec.of("no-such-test"),
                QemuStorageDaemon.rawExport(image, 1, true)));
        assertTrue(e.getMessage().contains("reported FAIL"), e.getMessage());
        assertTrue(e.getMessage().contains("error=unknown-test"), e.getMessage());
        assertTrue(e.getMessage().contains("| === VUTEST END no-such-test status=FAIL ==="), e.getMessage());
    }

    @Test
    void timeoutKillsQemuAndSaysSo() throws IOException {
        Path image = HostImages.rawImage(dir, "blank.img", 16 * MIB);
        VmException e = assertThrows(VmException.class, () -> runner().run(
                VmSpec.of("ch-ext4").withTimeout(Duration.ofMillis(300)), QemuStorageDaemon.rawExport(image, 1, true)));
        assertTrue(e.getMessage().contains("no verdict within PT0.3S"), e.getMessage());
    }

    @Test
    void backendThatNeverListensIsReported() {
        VmException e = assertThrows(VmException.class,
                () -> runner().run(VmSpec.of("ch-ext4"), List.of("sh", "-c", "echo backend-broken; exit 3")));
        assertTrue(e.getMessage().contains("exited with status 3"), e.getMessage());
        assertTrue(e.getMessage().contains("backend-broken"), e.getMessage());
    }
}
