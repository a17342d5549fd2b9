package dev.vublk.block;

import java.io.IOException;
import java.nio.file.Path;

/** An image that cannot be opened or used as it is: damaged, unsupported or inconsistent. */
public class ImageException extends IOException {
    public ImageException(Path image, String reason) {
        super(image + ": " + reason);
    }

    public ImageException(Path image, String reason, Throwable cause) {
        super(image + ": " + reason, cause);
    }

    /** For an image named by a location that is no path (an RBD image, an NBD export). */
    public ImageException(String location, String reason) {
        super(location + ": " + reason);
    }

    public ImageException(String location, String reason, Throwable cause) {
        super(location + ": " + reason, cause);
    }
}
