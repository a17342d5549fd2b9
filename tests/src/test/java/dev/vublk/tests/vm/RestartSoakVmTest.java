package dev.vublk.tests.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A guest runs rounds of verified fio writes on two queues while the backend is killed with
 * SIGKILL at random moments and started again on the same socket and image; QEMU reconnects
 * ({@code reconnect=1}) and hands the new backend its inflight area (INFLIGHT_SHMFD), from which
 * the backend redoes what the dead one took and never completed.
 *
 * <p>Passes when every fio round verified, the guest kernel logged no I/O error and no "not a
 * head" (a request completed twice, or one the guest no longer waits for, breaks its ring),
 * the image holds what the guest read back, {@code qemu-img check} finds no corruption (and no
 * more leaked clusters than the requests in flight at the kills could leave), every backend lived
 * until it was killed and QEMU reconnected to every new one. The suite runs {@value #DEFAULT_RESTARTS}
 * restarts per format; {@code scripts/soak-restart} sets {@value #RESTARTS_PROPERTY} (20) and
 * collects the {@code restart-soak} lines this test prints.
 */
@Tag("vm")
class RestartSoakVmTest {
    static final String RESTARTS_PROPERTY = "vublk.soak.restarts";
    static final String SEED_PROPERTY = "vublk.soak.seed";
    static final String FORMATS_PROPERTY = "vublk.soak.formats";
    private static final int DEFAULT_RESTARTS = 3;
    private static final int QUEUES = 2;
    private static final long MIB = 1 << 20;
    private static final int REGION_MIB = 16;
    /** The random pause between a reconnect and the next kill. */
    private static final int MIN_PAUSE_MILLIS = 500, MAX_PAUSE_MILLIS = 3000;
    /**
     * Guest fio time per restart: the pause (3 s at most), a JVM start (2-5 s on a loaded TCG
     * host) and QEMU's reconnect (it retries once a second). The guest must still be writing
     * when the last backend comes up, else the last restarts would test nothing.
     */
    private static final int GUEST_SECONDS_PER_RESTART = 10, GUEST_SECONDS_AFTER = 10;
    private static final Duration BOOT_LIMIT = Duration.ofMinutes(4);
    private static final Duration RECONNECT_LIMIT = Duration.ofSeconds(90);
    /** After its fio time the guest ends its round (a few seconds) and reports; beyond this, I/O hangs. */
    private static final Duration FINISH_LIMIT = Duration.ofSeconds(90);
    /**
     * The clusters one request in flight at a kill may leak: two data clusters (a write of up to
     * 64 KiB across a cluster boundary), a new L2 table and a new refcount block.
     */
    private static final int LEAKS_PER_REQUEST = 4;
    /** Where the logs of the last run stay, relative to the tests module. */
    static final String LOGS = "target/restart-soak";
    private static GuestKit kit;

    @TempDir
    Path dir;

    @BeforeAll
    static void buildKit() {
        kit = GuestKit.get();
    }

    /** The image formats to run, {@value #FORMATS_PROPERTY} (default both), e.g. for one format's soak. */
    static Stream<String> formats() {
        return Arrays.stream(System.getProperty(FORMATS_PROPERTY, "raw,qcow2").split(",")).map(String::strip);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void guestIoSurvivesRepeatedBackendKills(String format) throws Exception {
        int restarts = Integer.getInteger(RESTARTS_PROPERTY, DEFAULT_RESTARTS);
        long seed = Long.getLong(SEED_PROPERTY, System.nanoTime());
        String tag = "restart-soak " + format + ":";
        System.out.printf("%s seed %d (-D%s=%d repeats the pauses), %d restarts%n", tag, seed, SEED_PROPERTY, seed, restarts);
        Random random = new Random(seed);
        Path image = dir.resolve("soak." + format);
        QemuImg.create(format, image, 64 * MIB);
        int guestSeconds = restarts * GUEST_SECONDS_PER_RESTART + GUEST_SECONDS_AFTER;
        VmSpec spec = VmSpec.of("fio-loop").withQueues(QUEUES).withReconnect(true)
                .withArg("mib", Integer.toString(REGION_MIB)).withArg("secs", Integer.toString(guestSeconds))
                .withTimeout(BOOT_LIMIT.plusSeconds(guestSeconds).plusMinutes(2));
        VmRunner vm = new VmRunner(kit, dir);
        List<RestartRecord> records = new ArrayList<>();
        long began = System.nanoTime();
        RestartedBackend backend = RestartedBackend.start(vm.socketPath(), backendCommand(image), dir, 0, began);
        GuestResult r;
        RunningVm guest = vm.start(spec, backend.socket());
        try (guest) {
            awaitResult(guest, "started", BOOT_LIMIT, backend);
            long fioBegan = System.nanoTime();
            backend.awaitQueues(QUEUES, RECONNECT_LIMIT, guest);
            for (int i = 1; i <= restarts; i++) {
                Thread.sleep(MIN_PAUSE_MILLIS + random.nextInt(MAX_PAUSE_MILLIS - MIN_PAUSE_MILLIS + 1));
                assertTrue(backend.isAlive(), "backend " + (i - 1) + " died before it was killed:\n" + backend.logTail(30));
                assertTrue(!guest.serial().results().containsKey("rounds") && guest.isAlive(),
                        "the guest finished its " + guestSeconds + " s of fio before restart " + i
                        + "; raise GUEST_SECONDS_PER_RESTART\n" + guest.serial().tailText(20));
                assertEquals(List.of(), backend.errorLines(), "backend " + (i - 1) + " logged errors");
                long ranMillis = backend.ageMillis();
                long killed = System.nanoTime();
                backend.kill();
                backend = RestartedBackend.start(vm.socketPath(), backendCommand(image), dir, i, killed);
                RestartRecord rec = backend.awaitQueues(QUEUES, RECONNECT_LIMIT, guest).withRan(ranMillis);
                records.add(rec);
                System.out.printf("%s %s%n", tag, rec);
            }
            // A request lost in a restart hangs its fio job for good: the guest then never ends
            // its rounds, and this says so long before QEMU's time limit.
            Duration left = Duration.ofSeconds(guestSeconds).plus(FINISH_LIMIT).minusNanos(System.nanoTime() - fioBegan);
            awaitResult(guest, "rounds", left, backend);
            r = guest.await();
            assertTrue(backend.isAlive(), "the last backend died under the guest:\n" + backend.logTail(30));
            assertEquals(List.of(), backend.errorLines(), "the last backend logged errors");
        } finally {
            backend.close();
            keepLogs(format, guest);
        }
        Duration took = Duration.ofNanos(System.nanoTime() - began);
        System.out.printf("%s %s%n", tag, RestartRecord.summary(records, restarts));
        System.out.printf("%s guest rounds %s, failed rounds %s, kernel errors %s, fio seconds %s;"
                        + " %.1f s from boot to verdict%n", tag, r.results().get("rounds"), r.results().get("failed_rounds"),
                r.results().get("kernel_errors"), r.results().get("seconds"), took.toMillis() / 1000.0);

        assertEquals(restarts, records.size(), "restarts done");
        assertEquals("0", r.get("failed_rounds"), "fio rounds that failed or did not verify\n" + r.tail(60));
        assertEquals("0", r.get("kernel_errors"), "guest kernel I/O errors or 'not a head'\n" + r.tail(60));
        assertTrue(r.getLong("rounds") >= 1, "no fio round ran: " + r.results());
        assertTrue(r.passed(), "guest verdict " + r.status() + "\n" + r.tail(40));
        Path raw = format.equals("raw") ? image : QemuImg.toRaw(format, image, dir.resolve("soak-as-raw.img"));
        String host = HostImages.sha256(raw, REGION_MIB * MIB);
        assertEquals(host, r.get("sha256"), "the guest read back something other than the image holds");
        assertNotEquals(HostImages.zeroSha256(REGION_MIB * MIB), host, "fio wrote nothing");
        if (!format.equals("raw")) {
            // Write-through makes a completed write's metadata durable, so only requests in
            // flight at a kill can leave a cluster allocated but unmapped (the redone request
            // allocates afresh): a leak beyond what they could hold is a bug.
            long leaked = QemuImg.assertNoCorruption(format, image);
            int resubmitted = records.stream().mapToInt(RestartRecord::resubmitted).sum();
            System.out.printf("%s qemu-img check: no corruption, %d leaked cluster(s)%n", tag, leaked);
            assertTrue(leaked <= LEAKS_PER_REQUEST * resubmitted, leaked + " leaked clusters, but only "
                    + resubmitted + " requests were in flight at the kills");
        }
        System.out.printf("%s passed%n", tag);
    }

    /**
     * Write-through: fio-loop never flushes, and with a write-back cache a killed backend loses
     * what it completed but was not asked to flush, which virtio allows (QCOW2 keeps new
     * allocations' metadata in memory until a FLUSH: with the cache on, rounds written across a
     * kill fail verification). Write-through makes every completed write durable, so each one
     * must survive the kill; the flush after each write also widens the window in which requests
     * are in flight when the kill comes, so restarts have requests to resubmit.
     */
    private static List<String> backendCommand(Path image) {
        return OurBackend.command(image, QUEUES, "--write-cache=off");
    }

    /**
     * Copies the guest console and every backend's log to {@value #LOGS}/FORMAT: the temporary
     * directory goes away, and a failed round's fio output or a restart's log is what explains it.
     */
    private void keepLogs(String format, RunningVm guest) throws IOException {
        Path keep = Files.createDirectories(Path.of(LOGS, format));
        try (var old = Files.newDirectoryStream(keep)) {
            for (Path p : old) {
                Files.delete(p);
            }
        }
        Files.write(keep.resolve("serial.log"), guest.serial().lines());
        try (var logs = Files.newDirectoryStream(dir, "backend-*.log")) {
            for (Path p : logs) {
                Files.copy(p, keep.resolve(p.getFileName()));
            }
        }
    }

    private static void awaitResult(RunningVm guest, String key, Duration limit, RestartedBackend backend)
            throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!guest.serial().results().containsKey(key)) {
            if (!guest.isAlive() || guest.serial().status().isPresent() || System.nanoTime() > deadline) {
                fail("the guest printed no RESULT " + key + " within " + limit + " (its I/O hangs, or it ended):\n"
                        + guest.serial().tailText(40) + backend.logTail(20));
            }
            Thread.sleep(100);
        }
    }
}
