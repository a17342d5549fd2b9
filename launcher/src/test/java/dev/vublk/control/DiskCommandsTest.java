package dev.vublk.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageFormat;
import dev.vublk.vhost.blk.IoLimits;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The disk commands called directly, over real images. */
class DiskCommandsTest {
    @TempDir
    Path dir;

    private static Object run(TestDisk d, String name, Map<String, Object> args) throws QmpException {
        return DiskCommands.of(d.disk()).get(name).execute(args);
    }

    private static QmpException fails(TestDisk d, String name, Map<String, Object> args) {
        return assertThrows(QmpException.class, () -> run(d, name, args));
    }

    /** block_set_io_throttle with one argument of {@code base} changed (removed if {@code value} is null), failing. */
    private static QmpException changed(TestDisk d, Map<String, Object> base, String key, Object value) {
        Map<String, Object> args = new HashMap<>(base);
        if (value == null) {
            args.remove(key);
        } else {
            args.put(key, value);
        }
        return fails(d, "block_set_io_throttle", args);
    }

    /** Bytes the file system allocated to a file, as stat(1) reports them. */
    private static long allocated(Path file) throws Exception {
        Process p = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).start();
        String[] out = new String(p.getInputStream().readAllBytes()).strip().split(" ");
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0);
        return Long.parseLong(out[0]) * Long.parseLong(out[1]);
    }

    private static Map<String, Object> noLimits() {
        Map<String, Object> m = new LinkedHashMap<>();
        for (String r : BlockSetIoThrottle.RATES) {
            m.put(r, 0L);
        }
        for (String r : BlockSetIoThrottle.RATES) {
            m.put(r + "_max", 0L);
            m.put(r + "_max_length", 1L);
        }
        return m;
    }

    @Test
    void queryStatusIsPrelaunchBeforeAFrontEndAndPausedWithoutRunningQueues() throws Exception {
        try (TestDisk d = TestDisk.raw(dir, 1 << 20)) {
            assertEquals(Map.of("running", false, "status", "prelaunch"), run(d, "query-status", Map.of()));
            d.disk().newDevice(); // a front-end connected, no queue started
            assertEquals(Map.of("running", false, "status", "paused"), run(d, "query-status", Map.of()));
        }
    }

    @Test
    void queryBlockDescribesARawDisk() throws Exception {
        try (TestDisk d = TestDisk.raw(dir, 1 << 20)) {
            Path file = dir.resolve("disk.raw");
            Map<String, Object> image = new LinkedHashMap<>();
            image.put("filename", file.toString());
            image.put("format", "raw");
            image.put("virtual-size", 1L << 20);
            image.put("actual-size", allocated(file));
            assertTrue(allocated(file) < 1 << 20, "the test image is sparse, so allocated and virtual sizes differ");
            Map<String, Object> inserted = new LinkedHashMap<>();
            inserted.put("file", file.toString());
            inserted.put("ro", false);
            inserted.put("drv", "raw");
            inserted.put("backing_file_depth", 0L);
            inserted.put("encrypted", false);
            inserted.putAll(noLimits());
            inserted.put("image", image);
            Map<String, Object> device = new LinkedHashMap<>();
            device.put("device", "disk0");
            device.put("locked", false);
            device.put("removable", false);
            device.put("inserted", inserted);
            Object result = run(d, "query-block", Map.of());
            assertEquals(List.of(device), result);
            assertEquals(Json.write(List.of(device)), Json.write(result), "members in QEMU's order");
        }
    }

    @Test
    void queryBlockWalksTheBackingChain() throws Exception {
        Path base = Files.write(dir.resolve("base.raw"), new byte[2 << 20]);
        Path top = dir.resolve("top.qcow2");
        Process p = new ProcessBuilder("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=131072", "-b", base.toString(),
                "-F", "raw", top.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, out);
        try (TestDisk d = TestDisk.open(top, ImageFormat.QCOW2)) {
            @SuppressWarnings("unchecked")
            Map<String, Object> inserted = (Map<String, Object>) ((Map<String, Object>) ((List<?>) run(d, "query-block", Map.of()))
                    .getFirst()).get("inserted");
            assertEquals("qcow2", inserted.get("drv"));
            assertEquals(base.toString(), inserted.get("backing_file"));
            assertEquals(1L, inserted.get("backing_file_depth"));
            Map<String, Object> baseInfo = new HashMap<>(Map.of("filename", base.toString(), "format", "raw",
                    "virtual-size", 2L << 20, "actual-size", allocated(base)));
            Map<String, Object> topInfo = new HashMap<>(Map.of("filename", top.toString(), "format", "qcow2",
                    "virtual-size", 2L << 20, "actual-size", allocated(top), "cluster-size", 131072L,
                    "backing-filename", base.toString(), "backing-filename-format", "raw", "backing-image", baseInfo));
            assertEquals(topInfo, inserted.get("image"));
        }
    }

    @Test
    void blockResizeReportsWhatTheDiskSays() throws Exception {
        try (TestDisk d = TestDisk.raw(dir, 1 << 20)) {
            assertEquals(Map.of(), run(d, "block_resize", Map.of("device", "disk0", "size", 2L << 20)));
            assertEquals(2L << 20, d.disk().size());
            assertEquals(2L << 20, Files.size(dir.resolve("disk.raw")));
            QmpException e = fails(d, "block_resize", Map.of("device", "disk0", "size", 1000L));
            assertEquals(QmpException.GENERIC, e.errorClass());
            assertEquals("cannot resize disk0 to 1000 bytes: size 1000 is not a positive multiple of 512 bytes"
                    + " (the logical block size and the image's request alignment)", e.getMessage());
            e = fails(d, "block_resize", Map.of("node-name", "other", "size", 4L << 20));
            assertEquals("DeviceNotFound", e.errorClass());
            assertEquals("Device 'other' not found (this backend serves 'disk0')", e.getMessage());
            e = fails(d, "block_resize", Map.of("size", -1L));
            assertEquals("Parameter 'size' expects a >0 size", e.getMessage());
            assertEquals(2L << 20, d.disk().size());
        }
    }

    @Test
    void blockSetIoThrottleSetsTheLimitsQueryBlockShows() throws Exception {
        try (TestDisk d = TestDisk.raw(dir, 1 << 20)) {
            Map<String, Object> args = new HashMap<>(Map.of("device", "disk0", "iops", 0L, "iops_rd", 100L, "iops_wr", 200L,
                    "bps", 3_000_000L, "bps_rd", 0L, "bps_wr", 0L));
            args.put("iops_rd_max", 500L);
            args.put("iops_rd_max_length", 10L);
            args.put("bps_max", 6_000_000L);
            assertEquals(Map.of(), run(d, "block_set_io_throttle", args));
            IoLimits expected = new IoLimits(0, 100, 200, 3_000_000, 0, 0, 0, 500, 0, 6_000_000, 0, 0, 1, 10, 1, 1, 1, 1);
            assertEquals(expected, d.disk().limits());
            @SuppressWarnings("unchecked")
            Map<String, Object> inserted = (Map<String, Object>) ((Map<String, Object>) ((List<?>) run(d, "query-block", Map.of()))
                    .getFirst()).get("inserted");
            assertEquals(100L, inserted.get("iops_rd"));
            assertEquals(200L, inserted.get("iops_wr"));
            assertEquals(3_000_000L, inserted.get("bps"));
            assertEquals(500L, inserted.get("iops_rd_max"));
            assertEquals(10L, inserted.get("iops_rd_max_length"));
            assertEquals(6_000_000L, inserted.get("bps_max"));
            assertEquals(1L, inserted.get("bps_max_length"));
        }
    }

    @Test
    void blockSetIoThrottleRefusesBadLimitsAndKeepsTheOldOnes() throws Exception {
        try (TestDisk d = TestDisk.raw(dir, 1 << 20)) {
            Map<String, Object> base = Map.of("iops", 10L, "iops_rd", 0L, "iops_wr", 0L, "bps", 0L, "bps_rd", 0L, "bps_wr", 0L);
            run(d, "block_set_io_throttle", base);
            IoLimits before = d.disk().limits();
            assertEquals(10, before.iops());

            assertEquals("Parameter 'bps_wr' is missing", changed(d, base, "bps_wr", null).getMessage());
            assertEquals("iops cannot be combined with iops_rd or iops_wr", changed(d, base, "iops_rd", 5L).getMessage());
            assertEquals("iops_max must not be lower than iops", changed(d, base, "iops_max", 5L).getMessage());
            assertEquals("bps_max_length must be between 1 and 86400", changed(d, base, "bps_max_length", 0L).getMessage());
            assertEquals("Parameter 'iops_size' is unexpected", changed(d, base, "iops_size", 4096L).getMessage());
            assertEquals("DeviceNotFound", changed(d, base, "id", "vd1").errorClass());
            assertSame(before, d.disk().limits());
        }
    }
}
