package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageException;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.NativeFile;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An image whose log holds an entry written but never applied (what a crash between log write
 * and apply leaves): the engine and qemu-img replay it to the same content.
 */
class LogReplayTest {
    static final long SIZE = 16L << 20;

    @TempDir
    Path dir;

    private long fileEndAfterReplay;

    private Path pendingLogImage() throws Exception {
        Path img = dir.resolve("log.vhdx");
        QemuTools.runOk("qemu-img", "create", "-q", "-f", "vhdx", "-o", "block_size=1M", img.toString(), "" + SIZE);
        QemuTools.runOk("qemu-io", "-f", "vhdx", "-c", "write -P 0x61 0 1M", "-c", "write -P 0x62 3M 64k", img.toString());
        long batOffset;
        long fileEnd;
        UUID guid = UUID.randomUUID();
        try (NativeFile f = NativeFile.open(img, true, false)) {
            Headers headers = Headers.read(f, img);
            VhdxMetadata meta = VhdxMetadata.open(f, img, false, 0);
            RegionTable rt = RegionTable.parseOrNull(f.readBytes(Layout.REGION_TABLE1_OFFSET, Layout.REGION_TABLE_SIZE));
            batOffset = rt.find(KnownGuids.BAT_REGION, img).fileOffset();
            fileEnd = Layout.roundUp(f.size(), Layout.MIB);
            // New data for block 5 at the end of the file, which only the logged BAT update references.
            byte[] pattern = new byte[1 << 20];
            Arrays.fill(pattern, (byte) 0x77);
            f.writeBytes(fileEnd, pattern);
            byte[] page = f.readBytes(batOffset, 4096);
            long raw = BatEntry.encode(BatEntry.FULLY_PRESENT, fileEnd);
            java.nio.ByteBuffer.wrap(page).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                    .putLong(8 * 5, raw).putLong(0, BatEntry.encode(BatEntry.ZERO, 0));
            byte[] entry = LogEntry.encode(1, 0, guid, fileEnd, fileEnd + (3 << 20), List.of(new SectorUpdate(batOffset, page)));
            VhdxHeader h = headers.current();
            f.writeBytes(h.logOffset(), entry);
            headers.update(h.fileWriteGuid(), h.dataWriteGuid(), guid);
            f.fsync();
            assertTrue(meta.payloadEntry(5) != raw);
            fileEndAfterReplay = fileEnd + (3 << 20);
        }
        return img;
    }

    @Test
    void engineAndQemuReplayTheSame() throws Exception {
        Path img = pendingLogImage();
        Path forQemu = dir.resolve("q.vhdx");
        Files.copy(img, forQemu);

        ImageException e = assertThrows(ImageException.class, () -> VhdxImage.open(img, ImageOptions.defaults().withReadOnly(true)));
        assertTrue(e.getMessage().contains("must be replayed"), e.getMessage());

        QemuTools.runOk("qemu-img", "check", "-r", "all", "-f", "vhdx", forQemu.toString());
        Path raw = dir.resolve("q.raw");
        QemuTools.runOk("qemu-img", "convert", "-f", "vhdx", "-O", "raw", forQemu.toString(), raw.toString());
        byte[] expected = Files.readAllBytes(raw);
        byte[] five = new byte[1 << 20];
        Arrays.fill(five, (byte) 0x77);
        assertArrayEquals(five, Arrays.copyOfRange(expected, 5 << 20, 6 << 20), "qemu applied the logged BAT update");

        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults().withReadOnly(true), true);
             WorkerDriver h = new WorkerDriver(image)) {
            TestImages.assertContent(h, expected);
        }
        QemuTools.runOk("qemu-img", "check", "-f", "vhdx", img.toString());
        QemuTools.runOk("qemu-img", "compare", "-f", "vhdx", "-F", "raw", img.toString(), raw.toString());
    }

    @Test
    void readWriteOpenReplaysWithoutBeingAsked() throws Exception {
        Path img = pendingLogImage();
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            byte[] five = new byte[1 << 20];
            Arrays.fill(five, (byte) 0x77);
            assertArrayEquals(five, h.read(5 << 20, 1 << 20));
            assertArrayEquals(new byte[1 << 20], h.read(0, 1 << 20));
        }
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            assertTrue(f.length() >= fileEndAfterReplay, "file extended to LastFileOffset");
        }
        QemuTools.runOk("qemu-img", "check", "-f", "vhdx", img.toString());
    }
}
