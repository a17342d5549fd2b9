package dev.vublk.block;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.vhdx.VhdxCreator;
import dev.vublk.uring.UnixListener;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Files an image names (backing files, qcow2 external data files, VHDX parents): only regular
 * files, opened without waiting; confined by {@link LinkedFilePolicy}; counted in one chain.
 */
class LinkedFilesTest {
    /** A hang check, not a timing: a blocked open would never return. */
    private static final Duration FAST = Duration.ofSeconds(10);
    private static final long SIZE = 1 << 20;

    @TempDir
    Path dir;

    /** A qcow2 naming {@code backing} (as written) without qemu-img opening it. */
    private Path qcowOver(Path image, String backing, String format) {
        QemuTools.img("create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", format, image.toString(), Long.toString(SIZE));
        return image;
    }

    private Path rawFile(Path p) throws IOException {
        Files.createDirectories(p.getParent());
        byte[] data = new byte[(int) SIZE];
        data[0] = 42;
        Files.write(p, data);
        return p;
    }

    private static ImageException refused(Path image, ImageOptions options) {
        return assertTimeoutPreemptively(FAST, () -> assertThrows(ImageException.class, () -> Images.open(image, null, options)));
    }

    private static ImageOptions confinedTo(Path... dirs) throws IOException {
        return ImageOptions.defaults().withLinkedFiles(LinkedFilePolicy.confinedTo(List.of(dirs)));
    }

    private static void assertMessage(Exception e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "expected '" + p + "' in: " + e.getMessage());
        }
    }

    @Test
    void fifoBackingFileIsRefusedWithoutWaiting() {
        QemuTools.runOk("mkfifo", dir.resolve("fifo").toString());
        Path top = qcowOver(dir.resolve("top.qcow2"), "fifo", "raw");
        assertMessage(refused(top, ImageOptions.defaults().withReadOnly(true)), "backing file", "is a FIFO, not a regular file");
    }

    @Test
    void fifoDataFileIsRefusedWithoutWaiting() throws IOException {
        Path top = dir.resolve("top.qcow2");
        QemuTools.create(top, "qcow2", "data_file=" + dir.resolve("data.raw"), SIZE);
        Files.delete(dir.resolve("data.raw"));
        QemuTools.runOk("mkfifo", dir.resolve("data.raw").toString());
        assertMessage(refused(top, ImageOptions.defaults().withReadOnly(true)), "external data file", "is a FIFO");
    }

    @Test
    void socketBackingFileIsRefused() throws IOException {
        try (UnixListener l = UnixListener.listen(dir.resolve("sock"), 1)) {
            Path top = qcowOver(dir.resolve("top.qcow2"), "sock", "raw");
            assertMessage(refused(top, ImageOptions.defaults()), "backing file", "not a regular file");
        }
    }

    @Test
    void deviceOrDirectoryBackingFileIsRefused() throws IOException {
        Path top = qcowOver(dir.resolve("zero.qcow2"), "/dev/zero", "raw");
        assertMessage(refused(top, ImageOptions.defaults()), "/dev/zero", "is a character device, not a regular file");
        Files.createDirectory(dir.resolve("sub"));
        Path top2 = qcowOver(dir.resolve("dir.qcow2"), "sub", "raw");
        assertMessage(refused(top2, ImageOptions.defaults()), "is a directory, not a regular file");
    }

    @Test
    void relativeNamesResolveAgainstTheImagesDirectoryNotTheWorkingDirectory() throws IOException {
        Path sub = dir.resolve("a/b");
        rawFile(sub.resolve("base.raw"));
        Path top = qcowOver(sub.resolve("top.qcow2"), "base.raw", "raw");
        Path fromCwd = Path.of("").toAbsolutePath().relativize(top);
        try (BlockImage image = Images.open(fromCwd, null, ImageOptions.defaults())) {
            assertEquals(sub.resolve("base.raw").toRealPath(), image.backing().path().toRealPath());
        }
    }

    @Test
    void confinementAcceptsFilesUnderAnAllowedDirectory() throws IOException {
        Path allowed = dir.resolve("allowed");
        rawFile(allowed.resolve("deep/base.raw"));
        Path top = qcowOver(dir.resolve("top.qcow2"), "allowed/deep/base.raw", "raw");
        // The allowed directory itself may be named through a symbolic link.
        Path viaLink = Files.createSymbolicLink(dir.resolve("link-to-allowed"), allowed);
        try (BlockImage image = Images.open(top, null, confinedTo(Files.createDirectory(dir.resolve("other")), viaLink).withReadOnly(true))) {
            assertEquals(42, readFirstByte(image));
        }
    }

    @Test
    void confinementRefusesEscapes() throws IOException {
        Path allowed = Files.createDirectories(dir.resolve("allowed"));
        Path secret = rawFile(dir.resolve("secret/disk.raw"));
        rawFile(dir.resolve("allowedx/base.raw")); // shares a prefix, not a directory
        Files.createSymbolicLink(allowed.resolve("link.raw"), secret);
        ImageOptions opts = confinedTo(allowed);
        for (String name : List.of(secret.toString(), "../secret/disk.raw", "link.raw", "../allowedx/base.raw")) {
            Path top = qcowOver(allowed.resolve("top.qcow2"), name, "raw");
            assertMessage(refused(top, opts), "backing file", "refused: it lies outside the allowed directories [" + allowed);
            Files.delete(top);
        }
    }

    @Test
    void anAllowedDirectoryMustExist() {
        IOException e = assertThrows(IOException.class, () -> LinkedFilePolicy.confinedTo(List.of(dir.resolve("none"))));
        assertMessage(e, "none", "no such directory");
    }

    @Test
    void refuseAllRefusesBackingAndDataFilesButNotPlainImages() throws IOException {
        ImageOptions none = ImageOptions.defaults().withLinkedFiles(LinkedFilePolicy.NONE);
        rawFile(dir.resolve("base.raw"));
        Path top = qcowOver(dir.resolve("top.qcow2"), "base.raw", "raw");
        assertMessage(refused(top, none), "names backing file", "images may not name other files");
        Path withData = dir.resolve("data.qcow2");
        QemuTools.create(withData, "qcow2", "data_file=" + dir.resolve("data.raw"), SIZE);
        assertMessage(refused(withData, none), "names external data file");
        Path plain = dir.resolve("plain.qcow2");
        QemuTools.create(plain, "qcow2", null, SIZE);
        Images.open(plain, null, none).close();
    }

    @Test
    void vhdxParentsFollowTheSameRules() throws IOException {
        Path base = dir.resolve("p/base.vhdx"), child = dir.resolve("c/child.vhdx");
        Files.createDirectories(base.getParent());
        Files.createDirectories(child.getParent());
        VhdxCreator.create(base).size(SIZE).write();
        VhdxCreator.create(child).parent(base).write();
        assertMessage(refused(child, confinedTo(child.getParent())), "parent " + base, "outside the allowed directories");
        assertMessage(refused(child, ImageOptions.defaults().withLinkedFiles(LinkedFilePolicy.NONE)), "names parent");
        Images.open(child, null, confinedTo(base.getParent())).close();
        Files.delete(base);
        QemuTools.runOk("mkfifo", base.toString());
        assertMessage(refused(child, ImageOptions.defaults().withReadOnly(true)), "parent", "is a FIFO, not a regular file");
    }

    @Test
    void chainDepthCountsVhdxParentsBehindAQcow2() throws IOException {
        Path base = dir.resolve("base.vhdx"), child = dir.resolve("child.vhdx");
        VhdxCreator.create(base).size(SIZE).write();
        VhdxCreator.create(child).parent(base).write();
        Path top = qcowOver(dir.resolve("top.qcow2"), "child.vhdx", "vhdx");
        ImageException e = refused(top, new ImageOptions(true, false, false, 0, 1));
        assertMessage(e, "parent " + base, "deeper than 1");
        try (BlockImage image = Images.open(top, null, new ImageOptions(true, false, false, 0, 2))) {
            assertEquals(List.of(
                    "image " + top + ": QCOW2, " + SIZE + " bytes, cluster 65536 bytes, read-only, backing file " + child,
                    "backed by " + child + ": VHDX, " + SIZE + " bytes, block 2097152 bytes, read-only, parent " + base,
                    "backed by " + base + ": VHDX, " + SIZE + " bytes, block 33554432 bytes, read-only"),
                    Images.describeChain(image));
        }
    }

    @Test
    void imagesNamingThemselvesAreLoops() throws IOException {
        Path self = dir.resolve("self.qcow2");
        QemuTools.create(self, "qcow2", null, SIZE);
        QemuTools.img("rebase", "-q", "-u", "-f", "qcow2", "-b", "self.qcow2", "-F", "qcow2", self.toString());
        assertMessage(refused(self, ImageOptions.defaults()), "loops");
        // An external data file that is the image itself would let guest writes land on its metadata.
        Path data = dir.resolve("data.qcow2");
        QemuTools.create(data, "qcow2", "data_file=" + dir.resolve("data.raw"), SIZE);
        QemuTools.img("amend", "-q", "-f", "qcow2", "-o", "data_file=data.qcow2", data.toString());
        assertMessage(refused(data, ImageOptions.defaults()), "loops");
    }

    /** Overwrites bytes of a file in place. */
    private static void patch(Path file, long offset, byte[] bytes) throws IOException {
        try (var ch = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(bytes), offset);
        }
    }

    @Test
    void oddNamesAreRefusedWithTheirCause() throws IOException {
        Path nul = qcowOver(dir.resolve("nul.qcow2"), "ab", "raw");
        long nameAt = java.nio.ByteBuffer.wrap(Files.readAllBytes(nul)).getLong(8);
        patch(nul, nameAt + 1, new byte[] {0});
        assertMessage(refused(nul, ImageOptions.defaults()), "the backing file name is no usable path: Nul character not allowed");

        Path longName = qcowOver(dir.resolve("long.qcow2"), "a".repeat(1000), "raw");
        assertMessage(refused(longName, ImageOptions.defaults()), "cannot resolve backing file", "File name too long");

        Path empty = dir.resolve("empty.qcow2");
        QemuTools.create(empty, "qcow2", "data_file=" + dir.resolve("data.raw"), SIZE);
        byte[] head = Arrays.copyOf(Files.readAllBytes(empty), 4096);
        int ext = 104; // v3 header length: extensions follow; find the external data file one (type "DATA")
        while (java.nio.ByteBuffer.wrap(head).getInt(ext) != 0x44415441) {
            ext += 8 + ((java.nio.ByteBuffer.wrap(head).getInt(ext + 4) + 7) & ~7);
        }
        patch(empty, ext + 4, new byte[12]); // length 0, then the end-of-extensions marker

        assertMessage(refused(empty, ImageOptions.defaults()), "the external data file name is empty");
    }

    @Test
    void chainDescriptionNamesTheDataFile() throws IOException {
        Path top = dir.resolve("top.qcow2");
        QemuTools.create(top, "qcow2", "data_file=" + dir.resolve("data.raw"), SIZE);
        try (BlockImage image = Images.open(top, ImageFormat.QCOW2, ImageOptions.defaults())) {
            assertEquals(List.of("image " + top + ": QCOW2, " + SIZE + " bytes, cluster 65536 bytes, read-write, external data file "
                    + dir.resolve("data.raw")), Images.describeChain(image));
        }
    }

    private static int readFirstByte(BlockImage image) throws IOException {
        try (WorkerDriver d = new WorkerDriver(image)) {
            return d.read(0, 512)[0];
        }
    }
}
