package dev.vublk.tests.e2e;

import dev.vublk.tests.backend.BackendKind;
import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.backend.RunningBackend;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A RAW image in a temp dir, the backend serving it, and every frontend a test opened; closing
 * it closes the frontends and kills the backend, whatever the test's outcome.
 */
final class BackendFixture implements AutoCloseable {
    static final long IMAGE_BYTES = 64L << 20;

    final BackendKind kind;
    final Path dir;
    final Path image;
    final Path socket;
    private final List<AutoCloseable> closeables = new ArrayList<>();
    RunningBackend backend;
    BackendSpec spec;

    BackendFixture(BackendKind kind, Path dir) throws IOException {
        this.kind = kind;
        this.dir = dir;
        this.image = dir.resolve("disk.raw");
        this.socket = dir.resolve("vhost.sock");
        if (!Files.exists(image)) {
            try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
                f.setLength(IMAGE_BYTES);
            }
        }
    }

    RunningBackend start(BackendSpec s) throws IOException {
        if (backend != null) {
            backend.close();
        }
        spec = s;
        backend = kind.start(s, socket);
        return backend;
    }

    RunningBackend start(int numQueues) throws IOException {
        return start(BackendSpec.raw(image, numQueues));
    }

    boolean isQsd() {
        return kind == BackendKind.QSD;
    }

    VhostUserBlkFrontend open(FrontendOptions o) throws IOException {
        return track(VhostUserBlkFrontend.open(socket, o));
    }

    VhostUserBlkFrontend connect(FrontendOptions o) throws IOException {
        return track(VhostUserBlkFrontend.connect(socket, o));
    }

    <T extends AutoCloseable> T track(T c) {
        closeables.add(c);
        return c;
    }

    @Override
    public void close() throws Exception {
        Exception first = null;
        for (AutoCloseable c : closeables.reversed()) {
            try {
                c.close();
            } catch (Exception e) {
                first = first == null ? e : first;
            }
        }
        closeables.clear();
        if (backend != null) {
            backend.close();
        }
        if (first != null) {
            throw first;
        }
    }
}
