package dev.vublk.block.contract;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.raw.RawImage;
import dev.vublk.block.storage.rbd.CephCluster;
import dev.vublk.block.storage.rbd.RbdVolume;
import dev.vublk.block.vhdx.VhdxCreator;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * The images the contract runs over: each format fresh, and the two with something below them (a
 * QCOW2 over a backing file, a VHDX differencing disk over its parent), where unwritten space
 * shows the lower image's data. Every image is {@link #SIZE} bytes; the lower images hold random
 * data in their first {@link #LOWER_DATA} bytes and zeros after.
 */
public enum Fixture {
    RAW(ImageFormat.RAW, 64 << 10, false),
    QCOW2(ImageFormat.QCOW2, 64 << 10, false),
    VHDX(ImageFormat.VHDX, 1 << 20, false),
    QCOW2_OVER_BACKING_FILE(ImageFormat.QCOW2, 64 << 10, true),
    VHDX_DIFFERENCING(ImageFormat.VHDX, 1 << 20, true),
    /** RAW over a Ceph RBD image of the test cluster; {@link #create} leaves the image's name in a file. */
    RAW_OVER_RBD(ImageFormat.RAW, 64 << 10, false),
    /** A RAW file served by qemu-nbd, opened as an NBD volume (see {@link ContractImage#open}). */
    RAW_OVER_NBD(ImageFormat.RAW, 64 << 10, false);

    public static final int SIZE = 16 << 20;
    public static final int LOWER_DATA = 8 << 20;
    /** The lower image's data as a RAW file, beside every layered fixture. */
    public static final String LOWER_RAW = "lower.raw";

    public final ImageFormat format;
    /** The allocation unit requests are placed around: qcow2 cluster, VHDX block (RAW: as qcow2). */
    public final int unit;
    public final boolean layered;

    Fixture(ImageFormat format, int unit, boolean layered) {
        this.format = format;
        this.unit = unit;
        this.layered = layered;
    }

    /**
     * Whether qemu-img can open the image: QEMU has no VHDX differencing disks ("Operation not
     * supported"), so that fixture is judged by reading it back after a reopen, and its parent by
     * qemu-img (it must be unchanged).
     */
    public boolean qemuOpens() {
        return this != VHDX_DIFFERENCING;
    }

    /** Whether the image is a file served by qemu-nbd, which {@link ContractImage} starts for each open. */
    public boolean overNbd() {
        return this == RAW_OVER_NBD;
    }

    /** The lower image of a layered fixture, as {@link #create} left it in {@code dir}. */
    public Path lowerImage(Path dir) {
        return dir.resolve(this == VHDX_DIFFERENCING ? "parent.vhdx" : LOWER_RAW);
    }

    /** Whether the image lives on a network store, where O_DIRECT means nothing (run buffered only). */
    public boolean remote() {
        return this == RAW_OVER_RBD || this == RAW_OVER_NBD;
    }

    /** Opens what {@link #create} returned. */
    public BlockImage open(Path image, ImageOptions options) throws IOException {
        if (this == RAW_OVER_RBD) {
            String spec = CephCluster.shared().spec(Files.readString(image));
            return RawImage.over(RbdVolume.open(spec, options.readOnly()), options.readOnly());
        }
        return Images.open(image, format, options);
    }

    /** The image as a file qemu-img can judge: the image itself, or an RBD image exported by {@code rbd export}. */
    public Path qemuView(Path image) throws IOException {
        if (this == RAW_OVER_RBD) {
            Path exported = image.resolveSibling("exported.raw");
            Files.write(exported, CephCluster.shared().export(Files.readString(image)));
            return exported;
        }
        return image;
    }

    /** qemu-img's name of the format. */
    public String qemuFormat() {
        return format.name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The guest's view of a fresh image of this fixture. */
    public byte[] initialContent() {
        byte[] content = new byte[SIZE];
        if (layered) {
            System.arraycopy(lowerData(), 0, content, 0, LOWER_DATA);
        }
        return content;
    }

    private static byte[] lowerData() {
        byte[] b = new byte[LOWER_DATA];
        new Random(0x10EE).nextBytes(b);
        return b;
    }

    /** Creates the image (and its lower image) in {@code dir}; returns the image to open. */
    public Path create(Path dir) throws IOException {
        Path image = dir.resolve("image." + qemuFormat());
        switch (this) {
            case RAW, RAW_OVER_NBD -> sparseFile(image);
            case RAW_OVER_RBD -> {
                image = dir.resolve("image.rbd");
                Files.writeString(image, CephCluster.shared().createImage(SIZE));
            }
            case QCOW2 -> QemuTools.create(image, "qcow2", "cluster_size=" + unit, SIZE);
            case VHDX -> VhdxCreator.create(image).size(SIZE).blockSize(unit).write();
            case QCOW2_OVER_BACKING_FILE -> {
                Path backing = lowerRaw(dir);
                QemuTools.create(image, "qcow2", "cluster_size=" + unit + ",backing_file=" + backing + ",backing_fmt=raw", SIZE);
            }
            case VHDX_DIFFERENCING -> {
                Path parent = lowerImage(dir);
                QemuTools.img("convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=" + unit, lowerRaw(dir).toString(), parent.toString());
                VhdxCreator.create(image).parent(parent).blockSize(unit).write();
            }
        }
        return image;
    }

    private static Path lowerRaw(Path dir) throws IOException {
        Path raw = dir.resolve(LOWER_RAW);
        sparseFile(raw);
        try (RandomAccessFile f = new RandomAccessFile(raw.toFile(), "rw")) {
            f.write(lowerData());
        }
        return raw;
    }

    private static void sparseFile(Path file) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(SIZE);
        }
    }
}
