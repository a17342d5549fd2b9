package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageException;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.NativeFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A backend SIGKILLed between writing a log entry and applying it leaves an image with a log to
 * replay; our replay and qemu-img's ({@code check -r all}) must then give identical content, and
 * the content the change meant.
 */
class KilledLogReplayTest {
    static final long SIZE = 16L << 20, GROWN = 24L << 20;
    static final long ALLOCATED_BLOCK = 7, ZEROED_BLOCK = 2;
    static final int WRITTEN_BLOCKS = 6;

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"allocate", "zero-block", "grow"})
    void replayByEngineAndQemuAgree(String scenario) throws Exception {
        Path img = dir.resolve("k.vhdx");
        VhdxCreator.create(img).size(SIZE).blockSize(1 << 20).write();
        byte[] data = TestImages.random(1, WRITTEN_BLOCKS << 20);
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            h.write(0, data);
            h.flush();
        }
        String java = ProcessHandle.current().info().command().orElseThrow();
        QemuTools.Result child = QemuTools.run(java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                LogKillWriter.class.getName(), img.toString(), scenario);
        assertEquals(LogKillWriter.KILLED, child.exitCode(), "child was not killed at its crash point:\n" + child.describe());

        ImageException pending = assertThrows(ImageException.class,
                () -> VhdxImage.open(img, ImageOptions.defaults().withReadOnly(true)).close());
        assertTrue(pending.getMessage().contains("must be replayed"), pending.getMessage());
        assertFalse(changeOnDisk(img, scenario), "the change was applied before the kill");

        Path forQemu = dir.resolve("q.vhdx");
        Files.copy(img, forQemu);
        QemuTools.runOk("qemu-img", "check", "-r", "all", "-f", "vhdx", forQemu.toString());
        Path qemuRaw = dir.resolve("q.raw");
        QemuTools.runOk("qemu-img", "convert", "-f", "vhdx", "-O", "raw", forQemu.toString(), qemuRaw.toString());

        byte[] expected = new byte[(int) (scenario.equals("grow") ? GROWN : SIZE)];
        System.arraycopy(data, 0, expected, 0, data.length);
        if (scenario.equals("zero-block")) {
            Arrays.fill(expected, (int) (ZEROED_BLOCK << 20), (int) ((ZEROED_BLOCK + 1) << 20), (byte) 0);
        }
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            assertEquals(expected.length, image.size());
            TestImages.assertContent(h, expected);
            if (scenario.equals("allocate")) {
                assertEquals(BatEntry.FULLY_PRESENT, BatEntry.state(image.metadata().payloadEntry(ALLOCATED_BLOCK)),
                        "the logged allocation was replayed");
            }
        }
        QemuTools.runOk("qemu-img", "check", "-f", "vhdx", img.toString());
        Path ourRaw = dir.resolve("ours.raw");
        QemuTools.runOk("qemu-img", "convert", "-f", "vhdx", "-O", "raw", img.toString(), ourRaw.toString());
        assertArrayEquals(Files.readAllBytes(qemuRaw), Files.readAllBytes(ourRaw), "our replay and qemu's differ");
        assertArrayEquals(expected, Files.readAllBytes(ourRaw));
        assertTrue(changeOnDisk(forQemu, scenario), "qemu's replay wrote the logged change in place");
        assertTrue(changeOnDisk(img, scenario), "our replay wrote the logged change in place");
    }

    /** Whether the file's BAT or size item, as they stand on disk, hold the change the killed child logged. */
    private static boolean changeOnDisk(Path img, String scenario) throws Exception {
        try (NativeFile f = NativeFile.open(img, false, false)) {
            RegionTable rt = RegionTable.parseOrNull(f.readBytes(Layout.REGION_TABLE1_OFFSET, Layout.REGION_TABLE_SIZE));
            long bat = rt.find(KnownGuids.BAT_REGION, img).fileOffset();
            java.nio.ByteBuffer page = java.nio.ByteBuffer.wrap(f.readBytes(bat, 4096)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            return switch (scenario) {
                case "allocate" -> BatEntry.hasData(BatEntry.state(page.getLong(8 * (int) ALLOCATED_BLOCK)));
                case "zero-block" -> BatEntry.state(page.getLong(8 * (int) ZEROED_BLOCK)) == BatEntry.ZERO;
                default -> {
                    long meta = rt.find(KnownGuids.METADATA_REGION, img).fileOffset();
                    MetadataItems items = MetadataItems.parse(f.readBytes(meta, (int) Layout.MIB), img);
                    yield items.virtualDiskSize() != SIZE;
                }
            };
        }
    }
}
