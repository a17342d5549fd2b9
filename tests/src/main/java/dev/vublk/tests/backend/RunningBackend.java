package dev.vublk.tests.backend;

import java.nio.file.Path;

/** A backend serving one image on a Unix socket; {@link #close()} stops it for good. */
public interface RunningBackend extends AutoCloseable {
    Path socket();

    /** Short name for reports: "ours", "ours-process", "qsd". */
    String name();

    /** What the backend logged so far (for failure messages). */
    default String log() {
        return "";
    }

    @Override
    void close();
}
