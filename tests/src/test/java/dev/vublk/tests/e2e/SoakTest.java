package dev.vublk.tests.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.backend.ProcessBackend;
import dev.vublk.tests.e2e.ResourceSampler.Sample;
import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.BlkCompletion;
import dev.vublk.tests.frontend.BlkQueueDriver;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.GuestBuffer;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import dev.vublk.tests.vm.HostImages;
import dev.vublk.tests.vm.QemuImg;
import dev.vublk.vhost.blk.BlkFeatures;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A soak: our backend as a process of its own serves a fresh QCOW2 or VHDX image on 2 queues,
 * and one driver thread per queue ({@link SoakQueue}) runs mixed random I/O with verification for
 * a while: reads and writes of 1 to 16 blocks, discards and write-zeroes (small, and whole MiB),
 * flushes, 16 in flight per queue. Meanwhile {@link ResourceSampler} samples the backend's RSS,
 * PSS and open fds. Passes when there was no error at all (every status OK, every read what the
 * {@link SoakModel} says), the samples are flat as {@link SoakVerdict} defines it (fds exactly
 * equal after the warm-up; RSS's fitted line rising at most 16 MiB, no sample 32 MiB above the
 * first), and at the end the whole disk read through the device, and the image converted by
 * qemu-img, match the model, and {@code qemu-img check} finds the image clean.
 *
 * <p>The backend runs with {@link #BACKEND_HEAP}. System properties: {@code vublk.soak.seconds} (30: the suite's short form; scripts/soak
 * runs 600), {@code vublk.soak.sample-seconds} (2; the script uses 10), {@code vublk.soak.formats}
 * (qcow2,vhdx), {@code vublk.soak.report} (a file the sample table and verdict are appended to).
 */
class SoakTest {
    static final int QUEUES = 2;
    static final long IMAGE_BYTES = 128L << 20;
    private static final int BLOCKS = (int) (IMAGE_BYTES / SoakModel.BLOCK);
    private static final int CHECK_BLOCKS = 16;
    /**
     * A fixed heap, resident from the start: with the default ergonomics a young JVM keeps growing
     * its heap (up to a quarter of the host's RAM) as the request rate climbs, which says nothing
     * about leaks. So RSS shows what grows outside the Java heap (rings, mappings, native buffers,
     * threads, metaspace), and a leak inside it ends in OutOfMemoryError: failed requests or an
     * exited backend, both of which fail the soak. The C heap is trimmed every second: glibc keeps
     * what the JIT compiler's arenas freed, which showed as RSS steps of 3-8 MiB while the hot
     * paths compiled and not once after; trimming returns only free memory, so a leak still shows.
     */
    static final List<String> BACKEND_HEAP = List.of("-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch",
            "-XX:TrimNativeHeapInterval=1000");

    @TempDir
    Path dir;

    static Stream<String> formats() {
        return Arrays.stream(System.getProperty("vublk.soak.formats", "qcow2,vhdx").split(",")).map(String::strip)
                .filter(s -> !s.isEmpty());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void mixedVerifiedIoKeepsTheDataRssAndFdsSteady(String format) throws Exception {
        double seconds = Double.parseDouble(System.getProperty("vublk.soak.seconds", "30"));
        double every = Double.parseDouble(System.getProperty("vublk.soak.sample-seconds", "2"));
        Path image = dir.resolve("soak." + format);
        // 1 MiB VHDX blocks, so the whole-MiB discards and write-zeroes change block states too.
        QemuImg.create(format, image, IMAGE_BYTES, format.equals("vhdx") ? "block_size=1M" : "cluster_size=64k");
        SoakModel model = new SoakModel(BLOCKS);
        List<String> failures = new ArrayList<>();
        List<String> deviceMismatches = new ArrayList<>();
        List<SoakQueue> queues = new ArrayList<>();
        List<Sample> samples;
        long completed;
        try (ProcessBackend backend = ProcessBackend.ours(new BackendSpec(image, format, QUEUES, false, "soak", 512, true),
                dir.resolve("soak.sock"), System.getProperty("java.class.path"), BACKEND_HEAP, List.of());
             VhostUserBlkFrontend fe = VhostUserBlkFrontend.open(backend.socket(), FrontendOptions.qemu(QUEUES))) {
            long needed = (1L << BlkFeatures.DISCARD) | (1L << BlkFeatures.WRITE_ZEROES) | (1L << BlkFeatures.FLUSH);
            assertEquals(needed, fe.features() & needed, "the device must offer discard, write-zeroes and flush");
            long deadline = System.nanoTime() + (long) (seconds * 1e9);
            int slice = BLOCKS / QUEUES;
            for (int q = 0; q < QUEUES; q++) {
                queues.add(new SoakQueue(fe.queue(q), model, q * slice, slice, deadline, 1000L + q));
            }
            ResourceSampler sampler = ResourceSampler.start(backend.pid(), every,
                    () -> queues.stream().mapToLong(SoakQueue::completed).sum(),
                    () -> queues.stream().mapToLong(SoakQueue::errors).sum());
            try {
                runAll(queues, seconds);
            } finally {
                samples = sampler.stop();
            }
            completed = queues.stream().mapToLong(SoakQueue::completed).sum();
            queues.forEach(q -> failures.addAll(q.failures()));
            checkThroughTheDevice(fe.queue(0), model, deviceMismatches);
            assertEquals(BlkCommand.S_OK, fe.queue(0).flush().status());
            assertTrue(backend.alive(), "the backend exited during the soak:\n" + backend.log());
        } // the backend is stopped (SIGTERM) before qemu-img looks at the image
        long errors = queues.stream().mapToLong(SoakQueue::errors).sum();
        HostImages.Result check = HostImages.exec(List.of("qemu-img", "check", "-f", format, image.toString()));
        Path raw = QemuImg.toRaw(format, image, dir.resolve("soak.raw"));
        List<String> rawMismatches = new ArrayList<>();
        checkRawFile(raw, model, rawMismatches);

        double warmup = SoakVerdict.warmupSeconds(seconds);
        List<String> notFlat = SoakVerdict.violations(samples, warmup);
        boolean pass = errors == 0 && deviceMismatches.isEmpty() && rawMismatches.isEmpty() && check.exitCode() == 0 && notFlat.isEmpty();
        String report = SoakVerdict.table(String.format("soak %s: %.0f s, %d queues, %d requests, sampled every %.0f s, warm-up %.0f s",
                format, seconds, QUEUES, completed, every, warmup), samples, warmup, notFlat)
                + String.format("errors: %d, final device check: %s, converted image check: %s, qemu-img check: exit %d%n",
                        errors, deviceMismatches.isEmpty() ? "clean" : deviceMismatches.size() + " wrong blocks",
                        rawMismatches.isEmpty() ? "clean" : rawMismatches.size() + " wrong blocks", check.exitCode())
                + "verdict " + format + ": " + (pass ? "PASS" : "FAIL") + "\n";
        System.out.print(report);
        String reportFile = System.getProperty("vublk.soak.report");
        if (reportFile != null && !reportFile.isBlank()) {
            Files.writeString(Path.of(reportFile), report, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
        }
        assertEquals(0, errors, errors + " errors during the soak; first: " + failures);
        assertTrue(deviceMismatches.isEmpty(), "the disk read back through the device differs from the model: "
                + deviceMismatches.subList(0, Math.min(5, deviceMismatches.size())));
        assertTrue(rawMismatches.isEmpty(), "qemu-img's view of the image differs from the model: "
                + rawMismatches.subList(0, Math.min(5, rawMismatches.size())));
        assertEquals(0, check.exitCode(), "qemu-img check after the soak:\n" + check.describe());
        assertTrue(notFlat.isEmpty(), "not flat:\n" + report);
    }

    private static void runAll(List<SoakQueue> queues, double seconds) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(queues.size());
        try {
            List<Future<SoakQueue>> running = new ArrayList<>();
            for (SoakQueue q : queues) {
                running.add(pool.submit(q));
            }
            for (Future<SoakQueue> r : running) {
                r.get((long) seconds + 60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** Reads the whole disk through queue 0, {@link #CHECK_BLOCKS} blocks a request, against the model. */
    private static void checkThroughTheDevice(BlkQueueDriver q, SoakModel model, List<String> mismatches) {
        GuestBuffer buf = q.ram().allocate(0, CHECK_BLOCKS * SoakModel.BLOCK, 4096);
        try {
            MemorySegment bytes = q.ram().segment(buf);
            for (int b = 0; b < model.blocks(); b += CHECK_BLOCKS) {
                bytes.fill((byte) 0xa5);
                BlkCompletion c = q.run(BlkCommand.read((long) b * (SoakModel.BLOCK / 512), buf));
                if (c.status() != BlkCommand.S_OK) {
                    mismatches.add("final read of blocks " + b + "+" + CHECK_BLOCKS + ": status " + c.status());
                    continue;
                }
                for (int i = 0; i < CHECK_BLOCKS; i++) {
                    String wrong = model.check(bytes, (long) i * SoakModel.BLOCK, b + i);
                    if (wrong != null) {
                        mismatches.add("final read: " + wrong);
                    }
                }
            }
        } finally {
            q.ram().free(buf);
        }
    }

    /** The image as qemu-img converted it to RAW, against the model. */
    private static void checkRawFile(Path raw, SoakModel model, List<String> mismatches) throws IOException {
        byte[] chunk = new byte[256 * SoakModel.BLOCK];
        MemorySegment bytes = MemorySegment.ofArray(chunk);
        try (InputStream in = Files.newInputStream(raw)) {
            for (int b = 0; b < model.blocks(); b += chunk.length / SoakModel.BLOCK) {
                if (in.readNBytes(chunk, 0, chunk.length) != chunk.length) {
                    mismatches.add("the converted image ends before block " + b);
                    return;
                }
                for (int i = 0; i < chunk.length / SoakModel.BLOCK; i++) {
                    String wrong = model.check(bytes, (long) i * SoakModel.BLOCK, b + i);
                    if (wrong != null) {
                        mismatches.add(wrong);
                    }
                }
            }
        }
    }
}
