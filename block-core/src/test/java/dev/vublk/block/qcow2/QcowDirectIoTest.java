package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * O_DIRECT data I/O on file systems that support it (ext4 under /tmp, tmpfs under /dev/shm):
 * aligned guest buffers go straight to the kernel, unaligned ones through a bounce buffer, and
 * either way the data must be exactly what qemu sees.
 */
class QcowDirectIoTest {
    private static final long SIZE = 8L << 20;
    private static final int O_DIRECT = 0x4000;

    private Path dir;

    static Stream<Arguments> places() {
        return Stream.of(Arguments.of("/tmp", "cluster_size=65536"), Arguments.of("/dev/shm", "cluster_size=65536"),
                Arguments.of("/tmp", "extended_l2=on"), Arguments.of("/tmp", "cluster_size=4096,compat=0.10"),
                Arguments.of("/tmp", "data_file=DATA"));
    }

    @BeforeEach
    void noDir() {
        dir = null;
    }

    @AfterEach
    void cleanUp() throws IOException {
        if (dir != null) {
            try (Stream<Path> files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(dir);
        }
    }

    /** The open flags of a descriptor of this process, from /proc. */
    static int openFlags(NativeFile f) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo/" + f.fd()))) {
            if (line.startsWith("flags:")) {
                return Integer.parseInt(line.substring(6).trim(), 8);
            }
        }
        throw new AssertionError("no flags in fdinfo of fd " + f.fd());
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("places")
    void directDataIoMatchesQemu(String parent, String options) throws Exception {
        dir = Files.createTempDirectory(Path.of(parent), "qcow2-direct");
        Path base = dir.resolve("base.raw");
        QemuTools.create(base, "raw", null, SIZE);
        QemuTools.io(base, "raw", "write -P 0xa1 0 8M");
        Path img = dir.resolve("top.qcow2");
        QemuTools.create(img, "qcow2", options.replace("DATA", dir.resolve("top.data").toString())
                + ",backing_file=" + base + ",backing_fmt=raw", SIZE);
        QemuTools.io(img, "qcow2", "write -P 0x11 0 256k", "write -P 0x22 1M 64k");
        if (!options.contains("compat=0.10") && !options.contains("data_file")) {
            QemuTools.io(img, "qcow2", "write -c -P 0x33 2M 64k");
        }
        Path raw = dir.resolve("expected.raw");
        QemuTools.toRaw(img, raw);
        byte[] expected = Files.readAllBytes(raw);

        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults().withDirect(true));
             WorkerDriver d = new WorkerDriver(image);
             Arena arena = Arena.ofConfined()) {
            QcowImage q = (QcowImage) image;
            int align = image.memoryAlignment();
            assertTrue(align == 512 || align == 4096, "alignment " + align);
            assertEquals(Math.max(512, align), image.requestAlignment());
            assertTrue((openFlags(q.dataDescriptor()) & O_DIRECT) != 0, "data goes through an O_DIRECT descriptor");
            assertEquals(0, openFlags(q.metadataFile()) & O_DIRECT, "metadata stays buffered");

            int len = 96 << 10;
            MemorySegment aligned = arena.allocate(len, 4096);
            MemorySegment unaligned = arena.allocate(len + 4096, 4096).asSlice(8, len);
            // Reads: allocated data, backing data, compressed data, all with both buffers.
            for (long off : new long[] {0, 200 << 10, (1L << 20) - 4096, 2L << 20, 5L << 20}) {
                for (MemorySegment seg : new MemorySegment[] {aligned, unaligned}) {
                    seg.fill((byte) 0x5a);
                    assertEquals(len, d.tryReadInto(off, seg));
                    assertArrayEquals(Arrays.copyOfRange(expected, (int) off, (int) off + len),
                            seg.toArray(ValueLayout.JAVA_BYTE), "read at " + off);
                }
            }
            // Writes: in place, allocating over backing (copy-on-write), over compressed data.
            long[] offsets = {4096, 300 << 10, (2L << 20) + 8192, (6L << 20) + 512};
            for (int i = 0; i < offsets.length; i++) {
                MemorySegment seg = i % 2 == 0 ? aligned : unaligned;
                byte[] data = QcowInteropTest.pattern(0x60 + i, len);
                MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_BYTE, 0, len);
                assertEquals(len, d.tryWriteFrom(offsets[i], seg), "write at " + offsets[i]);
                System.arraycopy(data, 0, expected, (int) offsets[i], len);
            }
            assertEquals(0, d.writeZeroes(7L << 20, 128 << 10, false));
            Arrays.fill(expected, 7 << 20, (7 << 20) + (128 << 10), (byte) 0);
            assertEquals(0, d.flush());
            QcowInteropTest.assertContent(d, expected);
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        Files.write(raw, expected);
        QemuTools.assertSameContent(img, "qcow2", raw, "raw");
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("places")
    void bufferedOpenHasNoDirectDescriptor(String parent, String options) throws Exception {
        dir = Files.createTempDirectory(Path.of(parent), "qcow2-buffered");
        Path img = dir.resolve("b.qcow2");
        QemuTools.create(img, "qcow2", options.replace("DATA", dir.resolve("b.data").toString()), SIZE);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults())) {
            QcowImage q = (QcowImage) image;
            assertFalse((openFlags(q.dataDescriptor()) & O_DIRECT) != 0);
            assertEquals(1, image.memoryAlignment());
            assertEquals(512, image.requestAlignment());
        }
    }
}
