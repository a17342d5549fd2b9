package dev.vublk.block;

import dev.vublk.block.qcow2.QcowImage;
import dev.vublk.block.raw.RawImage;
import dev.vublk.block.vhdx.VhdxImage;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Opens an image of any supported format. */
public final class Images {
    private Images() {}

    /** Opens {@code path}; {@code format} null means detect by magic number. */
    public static BlockImage open(Path path, ImageFormat format, ImageOptions options) throws IOException {
        if (!Files.exists(path)) {
            throw new ImageException(path, "no such file");
        }
        if (!Files.isReadable(path)) {
            throw new ImageException(path, "not readable");
        }
        ImageFormat actual = format != null ? format : detect(path);
        return switch (actual) {
            case RAW -> RawImage.open(path, options);
            case QCOW2 -> QcowImage.open(path, options);
            case VHDX -> VhdxImage.open(path, options);
        };
    }

    public static ImageFormat detect(Path path) throws IOException {
        try (NativeFile f = NativeFile.open(path, false, false)) {
            return ImageFormat.detect(f);
        }
    }
}
