package dev.vublk.tests.backend;

import java.io.IOException;
import java.nio.file.Path;

/** The backends the end-to-end tests and the benchmark can start. */
public enum BackendKind {
    /** This project's backend on a thread of the test JVM. */
    OURS_IN_PROCESS,
    /** This project's backend as its own JVM (the launcher's Main). */
    OURS_PROCESS,
    /** qemu-storage-daemon's vhost-user-blk export: the reference. */
    QSD;

    public RunningBackend start(BackendSpec spec, Path socket) throws IOException {
        return switch (this) {
            case OURS_IN_PROCESS -> InProcessBackend.start(spec, socket);
            case OURS_PROCESS -> ProcessBackend.ours(spec, socket, System.getProperty("java.class.path"));
            case QSD -> ProcessBackend.qsd(spec, socket);
        };
    }
}
