package dev.vublk.control;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.vhost.blk.BlkDeviceOptions;
import dev.vublk.vhost.blk.BlkDisk;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;

/** A disk over a real image file for control tests, closed with the test. */
public final class TestDisk implements AutoCloseable {
    public static final String NAME = "disk0";

    private final BlockImage image;
    private final BlkDisk disk;

    private TestDisk(BlockImage image) {
        this.image = image;
        this.disk = new BlkDisk(image, new BlkDeviceOptions(1, 256, NAME, 512, true));
    }

    /** A new sparse RAW image of {@code size} bytes in {@code dir}: its allocated size differs from its size. */
    public static TestDisk raw(Path dir, int size) throws IOException {
        Path file = dir.resolve("disk.raw");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
            f.write(1); // one allocated block
        }
        return open(file, ImageFormat.RAW);
    }

    public static TestDisk open(Path file, ImageFormat format) throws IOException {
        if (!Files.exists(file)) {
            throw new IOException(file + " missing");
        }
        return new TestDisk(Images.open(file, format, ImageOptions.defaults()));
    }

    public BlkDisk disk() {
        return disk;
    }

    public BlockImage image() {
        return image;
    }

    @Override
    public void close() throws IOException {
        image.close();
    }
}
