package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Images made by qemu-img and filled by qemu-io must read bit-exact; after the engine writes to
 * them, qemu-img check must be clean and qemu-img compare must match the expected content.
 */
class QcowInteropTest {
    private static final long SIZE = 8L << 20;
    private static final String[] QEMU_WRITES = {
        "write -P 0x11 0 64k", "write -P 0x22 100k 300k", "write -z 1M 128k", "write -P 0x33 1536k 8k",
        "write -P 0x44 5M 1M", "write -z 5184k 64k", "write -P 0x55 8188k 4k", "write -P 0x66 3M 512",
    };

    @TempDir
    Path dir;

    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of("v2", "compat=0.10"),
                Arguments.of("v3-64k", "compat=1.1"),
                Arguments.of("v3-512", "cluster_size=512"),
                Arguments.of("v3-4k", "cluster_size=4096"),
                Arguments.of("v3-2M", "cluster_size=2M"),
                Arguments.of("refcount-1", "refcount_bits=1"),
                Arguments.of("refcount-2", "refcount_bits=2"),
                Arguments.of("refcount-4", "refcount_bits=4,cluster_size=4096"),
                Arguments.of("refcount-8", "refcount_bits=8"),
                Arguments.of("refcount-32", "refcount_bits=32"),
                Arguments.of("refcount-64", "refcount_bits=64,cluster_size=1024"),
                Arguments.of("extended-l2", "extended_l2=on"),
                Arguments.of("extended-l2-16k", "extended_l2=on,cluster_size=16k"),
                Arguments.of("lazy-refcounts", "lazy_refcounts=on"),
                Arguments.of("data-file", "data_file=DATA"),
                Arguments.of("data-file-raw", "data_file=DATA,data_file_raw=on"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void readsAndWritesQemuImages(String name, String options) throws IOException {
        Path img = dir.resolve(name + ".qcow2");
        QemuTools.create(img, "qcow2", options.replace("DATA", dir.resolve(name + ".data").toString()), SIZE);
        QemuTools.io(img, "qcow2", QEMU_WRITES);
        roundTrip(img, false);
    }

    static Stream<Arguments> compressed() {
        return Stream.of(Arguments.of("deflate", ""), Arguments.of("zstd", ",compression_type=zstd"),
                Arguments.of("zstd-extl2", ",compression_type=zstd,extended_l2=on"),
                Arguments.of("deflate-4k", ",cluster_size=4096"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("compressed")
    void readsAndRewritesCompressedImages(String name, String options) throws IOException {
        Path src = dir.resolve("src.qcow2");
        QemuTools.create(src, "qcow2", null, SIZE);
        QemuTools.io(src, "qcow2", QEMU_WRITES);
        Path img = dir.resolve(name + ".qcow2");
        QemuTools.img("convert", "-c", "-O", "qcow2", "-o", "compat=1.1" + options, src.toString(), img.toString());
        roundTrip(img, false);
    }

    static Stream<Arguments> chains() {
        return Stream.of(Arguments.of("qcow2", ""), Arguments.of("raw", ""), Arguments.of("qcow2", "extended_l2=on"));
    }

    @ParameterizedTest(name = "base {0} {1}")
    @MethodSource("chains")
    void readsAndWritesBackingChainsOfDepthThree(String baseFormat, String options) throws IOException {
        Path sub = Files.createDirectories(dir.resolve("sub"));
        Path base = sub.resolve("base." + baseFormat);
        QemuTools.create(base, baseFormat, null, SIZE);
        QemuTools.io(base, baseFormat, "write -P 0xa1 0 8M");
        Path mid = sub.resolve("mid.qcow2");
        QemuTools.img("create", "-q", "-f", "qcow2", "-b", "base." + baseFormat, "-F", baseFormat,
                "-o", options.isEmpty() ? "compat=1.1" : options, mid.toString());
        QemuTools.io(mid, "qcow2", "write -P 0xb2 64k 192k", "write -z 2M 64k", "write -P 0xb3 4095k 2k");
        Path top = dir.resolve("top.qcow2");
        QemuTools.img("create", "-q", "-f", "qcow2", "-b", "sub/mid.qcow2", "-F", "qcow2",
                "-o", options.isEmpty() ? "compat=1.1" : options, top.toString());
        QemuTools.io(top, "qcow2", "write -P 0xc3 128k 16k", "write -P 0xc4 6M 70k", "discard 2M 64k");
        roundTrip(top, true);
        // The backing files are untouched by writes to the top.
        QemuTools.assertCheckClean(mid, "qcow2", false);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void veryLargeSparseImages(String name, String options) throws IOException {
        if (!name.equals("v3-64k") && !name.equals("extended-l2")) {
            return;
        }
        long size = 4L << 40;
        Path img = dir.resolve("big.qcow2");
        QemuTools.create(img, "qcow2", options, size);
        QemuTools.io(img, "qcow2", "write -P 0x77 " + (size - (1 << 20)) + " 64k");
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(size, image.size());
            byte[] got = d.read(size - (1 << 20) - 4096, 72 << 10);
            for (int i = 0; i < got.length; i++) {
                assertEquals(i >= 4096 && i < 4096 + (64 << 10) ? 0x77 : 0, got[i] & 0xff, "byte " + i);
            }
            byte[] data = new byte[128 << 10];
            Arrays.fill(data, (byte) 0x3c);
            assertEquals(data.length, d.write(size - (3L << 30), data));
            assertEquals(0, d.flush());
            assertArrayEquals(data, d.read(size - (3L << 30), data.length));
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        String out = QemuTools.io(img, "qcow2", "read -P 0x3c " + (size - (3L << 30)) + " 128k");
        assertEquals(true, out.contains("read 131072/131072"), out);
    }

    /** Engine reads must match qemu's raw conversion; then engine writes must match a raw model. */
    private void roundTrip(Path img, boolean hasBacking) throws IOException {
        Path raw = dir.resolve("expected.raw");
        QemuTools.toRaw(img, raw);
        byte[] expected = Files.readAllBytes(raw);
        try (BlockImage image = Images.open(img, ImageFormat.QCOW2, ImageOptions.defaults().withReadOnly(true));
             WorkerDriver d = new WorkerDriver(image)) {
            assertEquals(SIZE, image.size());
            assertContent(d, expected);
        }
        try (BlockImage image = Images.open(img, null, ImageOptions.defaults());
             WorkerDriver d = new WorkerDriver(image)) {
            int cs = ((QcowImage) image).metadata().clusterSize();
            long[][] writes = {
                {0, 4096}, {3 * 512, 1024}, {(64 << 10) - 512, 1536}, {(1 << 20) + 512, 200 << 10},
                {SIZE - 4096, 4096}, {(1 << 20) + (64 << 10), 512}, {(5 << 20) + (64 << 10) + 1024, 70 << 10},
                {(6L << 20) + Math.min(cs, 512 << 10), Math.min(3L * cs, 1 << 20)}, {(7L << 20) + 512, 512},
            };
            int n = 0;
            for (long[] w : writes) {
                byte[] data = pattern(0x80 + n++, (int) w[1]);
                assertEquals(data.length, d.write(w[0], data), "write at " + w[0]);
                System.arraycopy(data, 0, expected, (int) w[0], data.length);
            }
            assertEquals(0, d.writeZeroes((3L << 20) - 4096, 8192 + 2L * cs, false));
            Arrays.fill(expected, (int) (3L << 20) - 4096, (int) ((3L << 20) + 4096 + 2L * cs), (byte) 0);
            if (!hasBacking) {
                assertEquals(0, d.discard(4L << 20, 2L << 20));
                Arrays.fill(expected, 4 << 20, 6 << 20, (byte) 0);
            }
            assertEquals(0, d.flush());
            assertContent(d, expected);
        }
        QemuTools.assertCheckClean(img, "qcow2", false);
        Files.write(raw, expected);
        QemuTools.assertSameContent(img, "qcow2", raw, "raw");
    }

    static void assertContent(WorkerDriver d, byte[] expected) throws IOException {
        int chunk = 320 << 10;
        for (int at = 0; at < expected.length; at += chunk) {
            int len = Math.min(chunk, expected.length - at);
            byte[] got = d.read(at, len);
            byte[] want = Arrays.copyOfRange(expected, at, at + len);
            if (!Arrays.equals(want, got)) {
                int i = Arrays.mismatch(want, got);
                throw new AssertionError("content differs at guest offset " + (at + i) + ": expected 0x"
                        + Integer.toHexString(want[i] & 0xff) + " got 0x" + Integer.toHexString(got[i] & 0xff));
            }
        }
    }

    static byte[] pattern(int seed, int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (seed + i / 512 * 7 + i);
        }
        return b;
    }
}
