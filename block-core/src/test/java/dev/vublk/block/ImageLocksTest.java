package dev.vublk.block;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageHolders.Holder;
import dev.vublk.block.ImageLocks.Claim;
import dev.vublk.block.vhdx.VhdxCreator;
import dev.vublk.uring.NativeFile;
import dev.vublk.uring.OfdLocks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Image locking against QEMU's own tools and against a second user of ours, in this process and
 * in another: who is refused, with which message, and that the locks go with the image.
 */
class ImageLocksTest {
    private static final long SIZE = 1 << 20;
    private static final String QEMU_SHARED_WRITE = "Failed to get shared \"write\" lock";
    private static final String QEMU_WRITE = "Failed to get \"write\" lock";

    @TempDir
    Path dir;

    private Path image(String name, String format) {
        Path p = dir.resolve(name);
        QemuTools.create(p, format, null, SIZE);
        return p;
    }

    /** What our second open of an image in use read-write says. */
    private static String refusedWrite(Path p) {
        return p + ": Failed to get \"write\" lock: another process is using the image and does not share \"write\"";
    }

    /** A QEMU tool's refusal: exit 1, the lock it could not get, and QEMU's hint naming the file. */
    private static void assertQemuRefused(QemuTools.Result r, String lock, Path file) {
        assertEquals(1, r.exitCode(), r.describe());
        assertTrue(r.stderr().contains(lock), r.describe());
        assertTrue(r.stderr().contains("Is another process using the image [" + file + "]?"), r.describe());
    }

    private static QemuTools.Result qemuIoWrite(Path file, String format) {
        return QemuTools.run("qemu-io", "-f", format, "-c", "write -P 7 0 4k", file.toString());
    }

    /** Formats with metadata: QEMU's readers need the file unchanged (qcow2 and vhdx unshare "write"). */
    @ParameterizedTest
    @ValueSource(strings = {"qcow2", "vhdx"})
    void qemuToolsAreRefusedAnImageWeServeReadWriteUnlessTheyForceShare(String format) throws IOException {
        Path p = image("disk." + format, format);
        try (BlockImage ignored = Images.open(p, null, ImageOptions.defaults())) {
            assertQemuRefused(QemuTools.run("qemu-img", "info", "-f", format, p.toString()), QEMU_SHARED_WRITE, p);
            assertQemuRefused(QemuTools.run("qemu-img", "check", "-f", format, p.toString()), QEMU_SHARED_WRITE, p);
            assertQemuRefused(qemuIoWrite(p, format), QEMU_WRITE, p);
            assertTrue(QemuTools.img("info", "-U", "-f", format, p.toString()).contains("virtual size: 1 MiB"));
        }
        // Closing the image gave the locks back.
        assertTrue(QemuTools.img("info", "-f", format, p.toString()).contains("virtual size: 1 MiB"));
        QemuTools.io(p, format, "write -P 7 0 4k");
    }

    /**
     * A RAW image: QEMU lets its own readers (qemu-img info, qemu-io -r) at a RAW disk a VM
     * writes, since no metadata can look torn to them; writers are refused all the same.
     */
    @Test
    void aRawImageWeServeReadWriteCanBeReadButNotWrittenByQemu() throws IOException {
        Path p = image("disk.raw", "raw");
        try (BlockImage ignored = Images.open(p, ImageFormat.RAW, ImageOptions.defaults())) {
            assertQemuRefused(qemuIoWrite(p, "raw"), QEMU_WRITE, p);
            assertTrue(QemuTools.img("info", "-f", "raw", p.toString()).contains("virtual size: 1 MiB"));
            QemuTools.runOk("qemu-io", "-r", "-f", "raw", "-c", "read 0 4k", p.toString());
        }
        QemuTools.io(p, "raw", "write -P 7 0 4k");
    }

    @Test
    void aSecondReadWriteOpenByUsIsRefusedInThisProcessAndInAnother() throws Exception {
        Path p = image("disk.qcow2", "qcow2");
        try (BlockImage ignored = Images.open(p, null, ImageOptions.defaults())) {
            ImageException e = assertThrows(ImageException.class, () -> Images.open(p, null, ImageOptions.defaults()));
            assertEquals(refusedWrite(p), e.getMessage());
            try (Holder child = ImageHolders.ours(p, "rw", "lock")) {
                assertEquals("refused: " + refusedWrite(p), child.firstLine());
            }
        }
        try (Holder child = ImageHolders.ours(p, "rw", "lock")) {
            assertEquals("open", child.firstLine());
            ImageException e = assertThrows(ImageException.class, () -> Images.open(p, null, ImageOptions.defaults()));
            assertEquals(refusedWrite(p), e.getMessage());
        }
        // The child's locks went with it: the image opens again.
        Images.open(p, null, ImageOptions.defaults()).close();
    }

    @Test
    void readOnlyUsersShareTheImageAndKeepWritersOut() throws Exception {
        Path p = image("disk.qcow2", "qcow2");
        ImageOptions readOnly = ImageOptions.defaults().withReadOnly(true);
        try (BlockImage ignored = Images.open(p, null, readOnly);
             BlockImage second = Images.open(p, null, readOnly);
             Holder child = ImageHolders.ours(p, "ro", "lock")) {
            assertEquals("open", child.firstLine());
            assertTrue(QemuTools.img("info", "-f", "qcow2", p.toString()).contains("virtual size: 1 MiB"));
            QemuTools.runOk("qemu-io", "-r", "-f", "qcow2", "-c", "read 0 4k", p.toString());
            assertQemuRefused(qemuIoWrite(p, "qcow2"), QEMU_WRITE, p);
            ImageException e = assertThrows(ImageException.class, () -> Images.open(p, null, ImageOptions.defaults()));
            assertEquals(refusedWrite(p), e.getMessage());
        }
    }

    @Test
    void aBackingFileIsHeldSharedSoReadersGetInAndWritersDoNot() throws IOException {
        Path base = image("base.raw", "raw");
        Path top = dir.resolve("top.qcow2");
        Path other = dir.resolve("other.qcow2");
        QemuTools.img("create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "raw", top.toString());
        QemuTools.img("create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "raw", other.toString());
        try (BlockImage ignored = Images.open(top, null, ImageOptions.defaults())) {
            assertTrue(QemuTools.img("info", "-f", "raw", base.toString()).contains("virtual size: 1 MiB"));
            assertQemuRefused(qemuIoWrite(base, "raw"), QEMU_WRITE, base);
            // Committing another overlay would write into the base under us.
            assertQemuRefused(QemuTools.run("qemu-img", "commit", "-f", "qcow2", other.toString()), QEMU_WRITE, base);
            // A second backend serving another overlay of the same base shares it...
            Images.open(other, null, ImageOptions.defaults()).close();
            // ...but one serving the base itself read-write is refused, naming the file and its role.
            ImageException e = assertThrows(ImageException.class, () -> Images.open(base, null, ImageOptions.defaults()));
            assertEquals(base + ": Failed to get \"write\" lock: another process is using the image and does not share"
                    + " \"write\"", e.getMessage());
        }
        try (BlockImage ignored = Images.open(base, ImageFormat.RAW, ImageOptions.defaults())) {
            ImageException e = assertThrows(ImageException.class, () -> Images.open(top, null, ImageOptions.defaults()));
            assertEquals(top + ": backing file " + base + ": Failed to get shared \"write\" lock: another process is"
                    + " using the image with \"write\"", e.getMessage());
        }
    }

    /** The direct descriptor of a RAW backing file replaces the buffered one: the locks must stay. */
    @Test
    void withODirectTheImageAndItsRawBackingFileStayLocked() throws IOException {
        Path base = image("base.raw", "raw");
        Path top = dir.resolve("top.qcow2");
        QemuTools.img("create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "raw", top.toString());
        try (BlockImage ignored = Images.open(top, null, ImageOptions.defaults().withDirect(true))) {
            assertQemuRefused(qemuIoWrite(base, "raw"), QEMU_WRITE, base);
            assertQemuRefused(QemuTools.run("qemu-img", "info", "-f", "qcow2", top.toString()), QEMU_SHARED_WRITE, top);
        }
        QemuTools.io(base, "raw", "write -P 7 0 4k");
    }

    @Test
    void anExternalDataFileIsLockedAsItsImageIsOpened() throws IOException {
        Path data = dir.resolve("data.raw");
        Path p = dir.resolve("disk.qcow2");
        QemuTools.create(p, "qcow2", "data_file=" + data + ",data_file_raw=on", SIZE);
        try (BlockImage ignored = Images.open(p, null, ImageOptions.defaults())) {
            assertQemuRefused(qemuIoWrite(data, "raw"), QEMU_WRITE, data);
            // A second backend serving the data file as a RAW image would write it under us.
            ImageException e = assertThrows(ImageException.class, () -> Images.open(data, ImageFormat.RAW, ImageOptions.defaults()));
            assertEquals(refusedWrite(data), e.getMessage());
        }
        try (BlockImage ignored = Images.open(p, null, ImageOptions.defaults().withReadOnly(true))) {
            assertTrue(QemuTools.img("info", "-f", "raw", data.toString()).contains("virtual size: 1 MiB"));
            assertQemuRefused(qemuIoWrite(data, "raw"), QEMU_WRITE, data);
        }
    }

    @Test
    void withLockingOffASecondUserGetsIn() throws Exception {
        Path p = image("disk.qcow2", "qcow2");
        ImageOptions unlocked = ImageOptions.defaults().withLocking(false);
        try (BlockImage ignored = Images.open(p, null, ImageOptions.defaults());
             Holder child = ImageHolders.ours(p, "rw", "no-lock")) {
            assertEquals("open", child.firstLine());
            Images.open(p, null, unlocked).close();
        }
        try (BlockImage ignored = Images.open(p, null, unlocked)) {
            assertTrue(QemuTools.img("info", "-f", "qcow2", p.toString()).contains("virtual size: 1 MiB"));
            Images.open(p, null, ImageOptions.defaults()).close();
        }
    }

    @Test
    void qemuIoHoldingTheImageKeepsUsOutCleanly() throws Exception {
        Path p = image("disk.qcow2", "qcow2");
        try (Holder qemu = ImageHolders.qemuIo(p, "qcow2", false)) {
            assertEquals("qemu-io> 1 MiB", qemu.firstLine());
            ImageException e = assertThrows(ImageException.class, () -> Images.open(p, null, ImageOptions.defaults()));
            assertEquals(refusedWrite(p), e.getMessage());
            e = assertThrows(ImageException.class, () -> Images.open(p, null, ImageOptions.defaults().withReadOnly(true)));
            assertEquals(p + ": Failed to get shared \"write\" lock: another process is using the image with \"write\"",
                    e.getMessage());
        }
        Path raw = image("disk.raw", "raw");
        try (Holder qemu = ImageHolders.qemuIo(raw, "raw", true)) {
            assertEquals("qemu-io> 1 MiB", qemu.firstLine());
            Images.open(raw, ImageFormat.RAW, ImageOptions.defaults().withReadOnly(true)).close();
        }
    }

    @Test
    void qemuStorageDaemonServingTheImageKeepsUsOutUntilItEnds() throws Exception {
        Path p = image("disk.qcow2", "qcow2");
        try (Holder ignored = ImageHolders.storageDaemon(p, dir.resolve("nbd.sock"))) {
            ImageException e = assertThrows(ImageException.class, () -> Images.open(p, null, ImageOptions.defaults()));
            assertEquals(refusedWrite(p), e.getMessage());
        }
        Images.open(p, null, ImageOptions.defaults()).close();
    }

    @Test
    void aVhdxParentIsHeldShared() throws IOException {
        Path parent = dir.resolve("parent.vhdx");
        Path child = dir.resolve("child.vhdx");
        VhdxCreator.create(parent).size(SIZE).blockSize(1 << 20).write();
        VhdxCreator.create(child).parent(parent).write();
        try (BlockImage ignored = Images.open(child, null, ImageOptions.defaults())) {
            assertTrue(QemuTools.img("info", "-f", "vhdx", parent.toString()).contains("virtual size: 1 MiB"));
            assertQemuRefused(qemuIoWrite(parent, "vhdx"), QEMU_WRITE, parent);
        }
    }

    /** The bytes each claim locks, as QEMU 7.2 locks them for a qcow2 disk of a VM (read-write or read-only). */
    @Test
    void claimsLockQemusBytes() throws IOException {
        Path p = Files.write(dir.resolve("f.raw"), new byte[512]);
        try (NativeFile f = NativeFile.open(p, true, false)) {
            ImageLocks.acquire(f, Claim.READ_WRITE);
            assertEquals(List.of("100 101", "103 103", "201 201", "203 203"), lockedRanges(p));
        }
        try (NativeFile f = NativeFile.open(p, false, false)) {
            ImageLocks.acquire(f, Claim.READ_ONLY);
            assertEquals(List.of("100 100", "201 201", "203 203"), lockedRanges(p));
        }
    }

    @Test
    void aRefusedClaimLeavesNothingLocked() throws IOException {
        Path p = Files.write(dir.resolve("f.raw"), new byte[512]);
        try (NativeFile first = NativeFile.open(p, true, false); NativeFile second = NativeFile.open(p, true, false)) {
            ImageLocks.acquire(first, Claim.READ_WRITE);
            assertThrows(ImageException.class, () -> ImageLocks.acquire(second, Claim.READ_ONLY));
            first.close();
            try (NativeFile probe = NativeFile.open(p, true, false)) {
                assertNull(OfdLocks.conflicting(probe, 0, 1000, OfdLocks.Type.EXCLUSIVE), "second still holds bytes");
            }
        }
    }

    /** The ranges /proc/locks lists for the file, "start end" in order. */
    private static List<String> lockedRanges(Path file) throws IOException {
        String inode = ":" + Files.getAttribute(file, "unix:ino") + " ";
        return Files.readAllLines(Path.of("/proc/locks")).stream()
                .filter(l -> l.contains(inode))
                .map(l -> l.trim().split("\\s+"))
                .map(f -> f[6] + " " + f[7])
                .sorted()
                .toList();
    }
}
