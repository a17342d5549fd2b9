package dev.vublk.tests.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.tests.backend.CephCluster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A real Linux guest in QEMU uses this project's backend: what the guest sees (size, queues,
 * read-only flag, files, fio's verification) and what lands in the image must agree.
 */
@Tag("vm")
class OurVmTest {
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

    private String backendLog() throws IOException {
        return Files.readString(dir.resolve("backend.log"));
    }

    private static long statistic(String log, String name) {
        Matcher m = Pattern.compile("device statistics: .*\\b" + name + "=(\\d+)").matcher(log);
        long last = -1;
        while (m.find()) {
            last = Long.parseLong(m.group(1));
        }
        return last;
    }

    @Test
    void cloudHypervisorExt4CaseWithTwoQueues() throws IOException {
        Path image = HostImages.ext4WithFoo(dir);
        GuestResult r = runner().run(VmSpec.of("ch-ext4").withQueues(2), OurBackend.command(image, 2));
        assertEquals(16 * MIB, r.getLong("size"));
        assertEquals("0", r.get("ro"));
        assertEquals("2", r.get("queues"));
        assertEquals("ok", r.get("mount"));
        assertEquals("bar", r.get("foo"));
    }

    /**
     * A guest's fio verification on an RBD image of the throwaway cluster with two queues; what
     * the guest read back at the end is what {@code rbd export} finds in the cluster.
     */
    @Test
    void fioVerifiesOnAnRbdImage() throws IOException {
        CephCluster ceph = CephCluster.shared();
        String name = "vm-fio-" + ProcessHandle.current().pid();
        ceph.removeImage(name);
        ceph.rbd("create", "--size", "96M", CephCluster.POOL + "/" + name);
        try {
            GuestResult r = runner().run(VmSpec.of("fio-verify").withQueues(2), OurBackend.command(ceph.store(name).ours(), 2));
            assertEquals("2", r.get("queues"));
            assertEquals(96 * MIB, r.getLong("size"));
            for (String pass : new String[] {"rand", "seq"}) {
                assertEquals("0", r.get("fio_" + pass + "_exit"), pass + " exit status");
                assertEquals("0", r.get("fio_" + pass + "_err"), pass + " error");
            }
            String host = HostImages.sha256(ceph.exportImage(name, dir.resolve("rbd-export.raw")), 64 * MIB);
            assertEquals(host, r.get("sha256"), "the guest read back something other than the RBD image holds");
            assertNotEquals(HostImages.zeroSha256(64 * MIB), host, "fio wrote nothing");
            for (int q = 0; q < 2; q++) {
                assertTrue(r.getLong("irq_virtio0-req." + q) > 0, "queue " + q + " unused: " + r.results());
            }
        } finally {
            ceph.removeImage(name);
        }
    }

    @Test
    void readOnlyDiskRefusesWrites() throws IOException {
        Path image = HostImages.ext4WithFoo(dir);
        String before = HostImages.sha256(image, 16 * MIB);
        GuestResult r = runner().run(VmSpec.of("ro-write"), OurBackend.command(image, 1, "--read-only"));
        assertEquals("1", r.get("ro"));
        assertEquals("failed", r.get("write"));
        assertEquals(r.get("before_sha256"), r.get("after_sha256"));
        assertEquals(before, HostImages.sha256(image, 16 * MIB));
    }

    @ParameterizedTest(name = "{0} with {1} queue(s)")
    @CsvSource({"raw, 1", "raw, 2", "qcow2, 2", "vhdx, 1"})
    void fioVerifiesAndTheImageHoldsWhatTheGuestWrote(String format, int queues) throws IOException {
        Path image = dir.resolve("fio." + format);
        QemuImg.create(format, image, 96 * MIB);
        GuestResult r = runner().run(VmSpec.of("fio-verify").withQueues(queues), OurBackend.command(image, queues));
        assertEquals(Integer.toString(queues), r.get("queues"));
        assertEquals(96 * MIB, r.getLong("size"));
        for (String pass : new String[] {"rand", "seq"}) {
            assertEquals("0", r.get("fio_" + pass + "_exit"), pass + " exit status");
            assertEquals("0", r.get("fio_" + pass + "_err"), pass + " error");
        }
        Path raw = format.equals("raw") ? image : QemuImg.toRaw(format, image, dir.resolve("fio-as-raw.img"));
        String host = HostImages.sha256(raw, 64 * MIB);
        assertEquals(host, r.get("sha256"), "the guest read back something other than the image holds");
        assertNotEquals(HostImages.zeroSha256(64 * MIB), host, "fio wrote nothing");
        for (int q = 0; q < queues; q++) {
            assertTrue(r.getLong("irq_virtio0-req." + q) > 0, "queue " + q + " unused: " + r.results());
        }
        if (!format.equals("raw")) {
            QemuImg.assertCheckClean(format, image);
        }
    }

    @Test
    void fsyncReachesTheBackendAsFlush() throws IOException {
        Path image = HostImages.rawImage(dir, "flush.img", 16 * MIB);
        GuestResult r = runner().run(VmSpec.of("fsync-flush"), OurBackend.command(image, 1, "--write-cache=on"));
        assertEquals("write back", r.get("initial_write_cache"), "the backend reports a write-back cache");
        assertEquals("ok", r.get("fsync"));
        assertTrue(r.getLong("flushes") >= 1, "guest completed no FLUSH: " + r.results());
        long backendFlushes = statistic(backendLog(), "flushes");
        assertTrue(backendFlushes >= 1, "backend counted " + backendFlushes + " flushes:\n" + backendLog());
        String expected = HostImages.sha256(HostImages.pattern(1, (int) (4 * MIB)));
        assertEquals(expected, r.get("sha256"));
        assertEquals(expected, HostImages.sha256(image, 4 * MIB));
    }

    @Test
    void discardAndWriteZeroesReadBackAsZeros() throws IOException {
        Path image = HostImages.rawImage(dir, "zeroes.img", 16 * MIB);
        GuestResult r = runner().run(VmSpec.of("discard"), OurBackend.command(image, 1));
        assertEquals("ok", r.get("discard"));
        assertTrue(r.getLong("discards") >= 1, "no discard completed: " + r.results());
        assertEquals("ok", r.get("write_zeroes"));
        assertEquals(r.get("zero_sha256"), r.get("sha256"));
        assertEquals(HostImages.zeroSha256(2 * MIB), HostImages.sha256(image, 2 * MIB));
    }

    @Test
    void discardGivesTheSpaceBackInTheRawFile() throws IOException {
        Path image = dir.resolve("trim.img");
        HostImages.run(List.of("dd", "if=/dev/urandom", "of=" + image, "bs=1M", "count=16", "status=none"));
        long before = QemuImg.allocatedBytes(image);
        GuestResult r = runner().run(VmSpec.of("trim"), OurBackend.command(image, 1));
        assertEquals("ok", r.get("discard"));
        assertTrue(r.getLong("discards") >= 1, "no discard completed: " + r.results());
        assertEquals(HostImages.zeroSha256(4 * MIB), r.get("sha256"), "discarded data still reads back");
        long after = QemuImg.allocatedBytes(image);
        assertTrue(after <= before - 4 * MIB, "allocated bytes " + before + " -> " + after);
        assertTrue(statistic(backendLog(), "discards") >= 1, backendLog());
    }

    @Test
    void dataSurvivesABackendRestartUnderARunningGuest() throws Exception {
        Path image = HostImages.rawImage(dir, "restart.img", 16 * MIB);
        VmRunner vm = runner();
        VmSpec spec = VmSpec.of("restart").withReconnect(true).withArg("seed", "9").withArg("mib", "4")
                .withArg("wait", "8");
        BackendProcess first = vm.startBackend(OurBackend.command(image, 1));
        BackendProcess second = null;
        try (RunningVm guest = vm.start(spec, first.socket())) {
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (!guest.serial().results().containsKey("written")) {
                assertTrue(System.nanoTime() < deadline && guest.isAlive(),
                        "guest never wrote its pattern:\n" + guest.serial().tailText(40));
                Thread.sleep(100);
            }
            first.kill(); // SIGKILL: no goodbye to QEMU
            first.waitFor(Duration.ofSeconds(10));
            second = vm.startBackend(OurBackend.command(image, 1));
            GuestResult r = guest.await();
            String expected = HostImages.sha256(HostImages.pattern(9, (int) (4 * MIB)));
            assertEquals(expected, r.get("pattern_sha256"));
            assertEquals("yes", r.get("match"), "guest read back " + r.get("sha256") + "\n" + second.logTail(20));
            assertTrue(second.logTail(50).contains("front-end connected"), "QEMU never reconnected:\n" + second.logTail(50));
            assertEquals(expected, HostImages.sha256(image, 4 * MIB));
        } finally {
            first.close();
            if (second != null) {
                second.close();
            }
        }
    }
}
