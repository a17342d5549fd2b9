package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageException;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Dirty images (lazy refcounts, writer killed before writing them back): a read-write open
 * rebuilds the refcounts, after which qemu-img check finds the image clean and the data intact.
 */
class QcowRebuildTest {
    @TempDir
    Path dir;

    /** Runs qemu-io on an image with lazy refcounts and SIGKILLs it after the commands. */
    static void writeAndKill(Path img, String... commands) {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add("-c");
        cmd.add("sigraise 9");
        cmd.add(img.toString());
        QemuTools.Result r = QemuTools.run(cmd.toArray(String[]::new));
        assertEquals(137, r.exitCode(), "qemu-io should have been killed: " + r.describe());
    }

    static long incompatibleFeatures(Path img) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            f.seek(72);
            return f.readLong();
        }
    }

    private static void assertDirtyAndInconsistent(Path img) throws IOException {
        assertEquals(1, incompatibleFeatures(img) & QcowHeader.INCOMPAT_DIRTY, "image should be dirty");
        QemuTools.Result check = QemuTools.check(img, "qcow2");
        assertEquals(2, check.exitCode(), "stale refcounts should show as corruption before the rebuild: " + check.describe());
    }

    private static byte[] filled(int value, int length) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        return b;
    }

    @ParameterizedTest
    @ValueSource(strings = {"cluster_size=65536", "extended_l2=on", "cluster_size=4096,refcount_bits=64",
            "cluster_size=512,refcount_bits=8", "data_file=DATA"})
    void dirtyImageIsRebuiltOnReadWriteOpen(String options) throws Exception {
        Path img = dir.resolve("dirty.qcow2");
        QemuTools.create(img, "qcow2", options.replace("DATA", dir.resolve("dirty.data").toString())
                + ",lazy_refcounts=on", 32L << 20);
        writeAndKill(img, "write -P 0x11 0 1M", "write -P 0x22 4M 192k", "write -P 0x33 20M 64k");
        if (options.contains("data_file")) {
            // Data clusters have no refcounts there: the image may be dirty yet consistent.
            assertEquals(1, incompatibleFeatures(img) & QcowHeader.INCOMPAT_DIRTY, "image should be dirty");
        } else {
            assertDirtyAndInconsistent(img);
        }
        byte[] fresh = QcowInteropTest.pattern(0x44, 128 << 10);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(0, incompatibleFeatures(img) & QcowHeader.INCOMPAT_DIRTY, "dirty bit must be cleared at open");
            assertArrayEquals(filled(0x11, 64 << 10), d.read(512 << 10, 64 << 10));
            assertArrayEquals(filled(0x22, 192 << 10), d.read(4L << 20, 192 << 10));
            assertArrayEquals(filled(0x33, 64 << 10), d.read(20L << 20, 64 << 10));
            assertEquals(fresh.length, d.write(10L << 20, fresh)); // allocating: must not reuse a referenced cluster
            assertEquals(4096, d.write(8192, filled(0x55, 4096))); // in place
            assertEquals(0, d.flush());
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        QemuTools.io(img, "qcow2", "read -P 0x11 0 8192", "read -P 0x55 8192 4096", "read -P 0x11 12288 1000k",
                "read -P 0x22 4M 192k", "read -P 0x33 20M 64k", "read -P 0 11M 9M");
        Path raw = dir.resolve("dirty.raw");
        QemuTools.toRaw(img, raw);
        byte[] all = Files.readAllBytes(raw);
        assertArrayEquals(fresh, Arrays.copyOfRange(all, 10 << 20, (10 << 20) + fresh.length));
    }

    @Test
    void snapshotsAndCompressedClustersKeepTheirReferences() throws Exception {
        Path img = dir.resolve("snap.qcow2");
        QemuTools.create(img, "qcow2", "lazy_refcounts=on", 16L << 20);
        QemuTools.io(img, "qcow2", "write -P 0x11 0 1M", "write -c -P 0x66 2M 64k");
        QemuTools.img("snapshot", "-c", "s1", img.toString());
        // Copy-on-write of snapshot-shared clusters, refcounts left stale.
        writeAndKill(img, "write -P 0x22 512k 64k", "write -P 0x33 8M 64k");
        assertDirtyAndInconsistent(img);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            // Still shared with the snapshot: the rebuilt COPIED flags must force copy-on-write.
            assertEquals(4096, d.write(0, filled(0x77, 4096)));
            assertEquals(4096, d.write(2L << 20, filled(0x78, 4096)));
            assertEquals(0, d.flush());
            assertArrayEquals(filled(0x11, 4096), d.read(4096, 4096));
            assertArrayEquals(filled(0x66, 4096), d.read((2L << 20) + 4096, 4096));
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        QemuTools.io(img, "qcow2", "read -P 0x77 0 4k", "read -P 0x11 4k 508k", "read -P 0x22 512k 64k",
                "read -P 0x78 2M 4k", "read -P 0x66 2052k 60k", "read -P 0x33 8M 64k");
        Path raw = dir.resolve("s1.raw");
        QemuTools.img("convert", "-O", "raw", "-l", "snapshot.name=s1", img.toString(), raw.toString());
        byte[] snap = Files.readAllBytes(raw);
        assertArrayEquals(filled(0x11, 1 << 20), Arrays.copyOf(snap, 1 << 20));
        assertArrayEquals(filled(0x66, 64 << 10), Arrays.copyOfRange(snap, 2 << 20, (2 << 20) + (64 << 10)));
        assertArrayEquals(new byte[64 << 10], Arrays.copyOfRange(snap, 8 << 20, (8 << 20) + (64 << 10)));
    }

    @Test
    void smallWindowsTakeSeveralPassesAndAgree() throws Exception {
        // 512-byte clusters and 16-bit refcounts: a block covers 256 clusters, the file has thousands.
        Path img = dir.resolve("windows.qcow2");
        QemuTools.create(img, "qcow2", "cluster_size=512,lazy_refcounts=on", 8L << 20);
        QemuTools.io(img, "qcow2", "write -P 0x21 0 256k");
        QemuTools.img("snapshot", "-c", "s1", img.toString());
        writeAndKill(img, "write -P 0x31 64k 64k", "write -P 0x41 3M 700k");
        assertDirtyAndInconsistent(img);
        try (NativeFile file = NativeFile.open(img, true, false)) {
            QcowHeader h = QcowHeader.parse(file.readBytes(0, 512), file.size());
            long sizeBefore = file.size();
            QcowHeader rebuilt = RefcountRebuild.rebuild(file, h, 256);
            assertTrue(rebuilt.refcountTableOffset() >= sizeBefore, "the new table goes past the old end of the file");
            file.writeBytes(0, rebuilt.withFeatures(h.incompatibleFeatures() & ~QcowHeader.INCOMPAT_DIRTY,
                    h.autoclearFeatures()).encodeFixed());
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        QemuTools.io(img, "qcow2", "read -P 0x21 0 64k", "read -P 0x31 64k 64k", "read -P 0x21 128k 128k",
                "read -P 0x41 3M 700k");
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(512, d.write(70 << 10, filled(0x51, 512)));
            assertEquals(512, d.write(5L << 20, filled(0x52, 512)));
            assertEquals(0, d.flush());
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        QemuTools.io(img, "qcow2", "read -P 0x51 70k 512", "read -P 0x52 5M 512", "read -P 0x31 64k 6k");
    }

    /**
     * Bitmap clusters are not counted by the rebuild: the same header write that clears the dirty
     * bit clears the bitmaps autoclear bit, so qemu then ignores the (stale) bitmap directory.
     */
    @Test
    void persistentBitmapsAreDroppedWithTheRebuild() throws Exception {
        Path img = dir.resolve("bitmap.qcow2");
        QemuTools.create(img, "qcow2", "lazy_refcounts=on", 16L << 20);
        QemuTools.img("bitmap", "--add", img.toString(), "b0");
        writeAndKill(img, "write -P 0x11 0 1M");
        assertDirtyAndInconsistent(img);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(65536, d.write(2L << 20, filled(0x22, 65536)));
            assertEquals(0, d.flush());
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        assertFalse(QemuTools.img("info", img.toString()).contains("b0"), "the bitmap is no longer valid");
        QemuTools.io(img, "qcow2", "read -P 0x11 0 1M", "read -P 0x22 2M 64k");
    }

    @Test
    void wrongCopiedFlagsOfADirtyImageAreCorrected() throws Exception {
        Path img = dir.resolve("copied.qcow2");
        QemuTools.create(img, "qcow2", null, 16L << 20);
        QemuTools.io(img, "qcow2", "write -P 0x11 0 128k");
        QemuTools.img("snapshot", "-c", "s1", img.toString());
        // Claim the snapshot-shared L2 table and first data cluster are ours alone, and mark the image dirty.
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(40);
            long l1 = f.readLong();
            f.seek(l1);
            long l1e = f.readLong();
            f.seek(l1);
            f.writeLong(l1e | L2Entry.COPIED);
            long l2 = l1e & L2Entry.OFFSET_MASK;
            f.seek(l2);
            long e = f.readLong();
            f.seek(l2);
            f.writeLong(e | L2Entry.COPIED);
            f.seek(72);
            f.writeLong(QcowHeader.INCOMPAT_DIRTY);
        }
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(4096, d.write(0, filled(0x77, 4096))); // must copy, not overwrite the snapshot's cluster
            assertEquals(0, d.flush());
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        QemuTools.io(img, "qcow2", "read -P 0x77 0 4k", "read -P 0x11 4k 124k");
        Path raw = dir.resolve("s1.raw");
        QemuTools.img("convert", "-O", "raw", "-l", "snapshot.name=s1", img.toString(), raw.toString());
        assertArrayEquals(filled(0x11, 128 << 10), Arrays.copyOf(Files.readAllBytes(raw), 128 << 10));
    }

    @Test
    void damagedDirtyImageFailsClearlyAndStaysDirty() throws Exception {
        Path img = dir.resolve("bad.qcow2");
        QemuTools.create(img, "qcow2", "lazy_refcounts=on", 16L << 20);
        writeAndKill(img, "write -P 0x11 0 128k");
        long l1;
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(40);
            l1 = f.readLong();
            f.seek(l1);
            long l2 = f.readLong() & L2Entry.OFFSET_MASK;
            f.seek(l2 + 8);
            f.writeLong(L2Entry.COPIED | (1L << 40)); // a data cluster far past the end of the file
        }
        ImageException e = assertThrows(ImageException.class,
                () -> Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults()).close());
        assertTrue(e.getMessage().startsWith(img.toString()) && e.getMessage().contains("past the end"), e.getMessage());
        assertEquals(1, incompatibleFeatures(img) & QcowHeader.INCOMPAT_DIRTY);
        // Read-only opens do not need refcounts at all.
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults().withReadOnly(true));
             WorkerDriver d = new WorkerDriver(image)) {
            assertArrayEquals(filled(0x11, 512), d.read(0, 512));
        }
    }

    @Test
    void damagedSnapshotTableOfADirtyImageFailsClearly() throws Exception {
        Path img = dir.resolve("snapbad.qcow2");
        QemuTools.create(img, "qcow2", null, 16L << 20);
        QemuTools.io(img, "qcow2", "write -P 0x11 0 64k");
        QemuTools.img("snapshot", "-c", "s1", img.toString());
        long snapshots;
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(64);
            snapshots = f.readLong();
            f.seek(72);
            f.writeLong(QcowHeader.INCOMPAT_DIRTY);
            f.seek(snapshots + 36);
            f.writeInt(1 << 20); // extra data far beyond QEMU's 1 KiB limit
        }
        ImageException e = assertThrows(ImageException.class,
                () -> Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults()).close());
        assertTrue(e.getMessage().contains("snapshot 0") && e.getMessage().contains("extra data"), e.getMessage());
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(snapshots + 36);
            f.writeInt(24);
            f.seek(snapshots);
            f.writeLong(1L << 40); // the snapshot's L1 table past the end of the file
        }
        e = assertThrows(ImageException.class, () -> Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults()).close());
        assertTrue(e.getMessage().contains("snapshot 0") && e.getMessage().contains("L1 table"), e.getMessage());
        assertEquals(1, incompatibleFeatures(img) & QcowHeader.INCOMPAT_DIRTY, "a failed rebuild leaves the image dirty");
    }

    @Test
    void corruptImagesStayReadOnly() throws Exception {
        Path img = dir.resolve("corrupt.qcow2");
        QemuTools.create(img, "qcow2", null, 16L << 20);
        QemuTools.io(img, "qcow2", "write -P 0x11 0 64k");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(72);
            f.writeLong(QcowHeader.INCOMPAT_CORRUPT | QcowHeader.INCOMPAT_DIRTY);
        }
        ImageException e = assertThrows(ImageException.class,
                () -> Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults()).close());
        assertTrue(e.getMessage().contains("marked corrupt") && e.getMessage().contains("read-only"), e.getMessage());
        assertFalse(e.getMessage().contains("dirty"), e.getMessage());
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults().withReadOnly(true));
             WorkerDriver d = new WorkerDriver(image)) {
            assertArrayEquals(filled(0x11, 512), d.read(0, 512));
        }
    }
}
