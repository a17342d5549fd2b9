package dev.vublk.block;

import dev.vublk.block.vhdx.VhdxImage;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Opens an image of a given or detected format. Minimal version on the vhdx branch: it serves
 * VHDX; the RAW and QCOW2 entries come from their branches when merged.
 */
public final class Images {
    private Images() {}

    /** @param format the format, or null to detect it from the file's magic */
    public static BlockImage open(Path path, ImageFormat format, ImageOptions options) throws IOException {
        ImageFormat f = format;
        if (f == null) {
            try (NativeFile probe = NativeFile.open(path, false, false)) {
                f = ImageFormat.detect(probe);
            }
        }
        return switch (f) {
            case VHDX -> VhdxImage.open(path, options);
            default -> throw new ImageException(path, "format " + f + " is not available in this build");
        };
    }
}
