package dev.vublk.tests.e2e;

import dev.vublk.tests.backend.BackendKind;
import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.backend.CephCluster;
import dev.vublk.tests.backend.NbdServer;
import dev.vublk.tests.backend.NetworkStore;
import dev.vublk.tests.backend.RunningBackend;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A RAW image in a temp dir, the backend serving it, and every frontend a test opened; closing
 * it closes the frontends and kills the backend, whatever the test's outcome. With a network
 * {@link Store} the backend serves the image through that store instead: qemu-nbd exporting the
 * file, or an RBD image made from the file when the backend first starts.
 */
final class BackendFixture implements AutoCloseable {
    static final long IMAGE_BYTES = 64L << 20;

    /** Where the backend reads the image from. */
    enum Store { FILE, NBD, RBD }

    private static final AtomicInteger RBD_IMAGES = new AtomicInteger();

    final BackendKind kind;
    final Path dir;
    final Path image;
    final Path socket;
    final Store store;
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private NbdServer nbd;
    private String rbdImage;
    RunningBackend backend;
    BackendSpec spec;

    BackendFixture(BackendKind kind, Path dir) throws IOException {
        this(kind, dir, Store.FILE);
    }

    BackendFixture(BackendKind kind, Path dir, Store store) throws IOException {
        this.kind = kind;
        this.dir = dir;
        this.store = store;
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
        if (s.network() == null && s.image().equals(image)) {
            s = s.withNetwork(network());
        }
        spec = s;
        backend = kind.start(s, socket);
        return backend;
    }

    RunningBackend start(int numQueues) throws IOException {
        return start(BackendSpec.raw(image, numQueues));
    }

    /**
     * The store's name for the image, made on first use: qemu-nbd starts exporting the file; the
     * RBD image is imported from the file as the test prepared it, once, so a restarted backend
     * finds what the first one wrote.
     */
    NetworkStore network() throws IOException {
        switch (store) {
            case NBD -> {
                if (nbd == null) {
                    nbd = NbdServer.start(image, dir.resolve("nbd.sock"));
                }
                return nbd.store();
            }
            case RBD -> {
                if (rbdImage == null) {
                    String name = "e2e-" + ProcessHandle.current().pid() + "-" + RBD_IMAGES.incrementAndGet();
                    CephCluster.shared().importImage(image, name);
                    rbdImage = name;
                }
                return CephCluster.shared().store(rbdImage);
            }
            default -> {
                return null;
            }
        }
    }

    /** The qemu-nbd under the backend, for tests that stop and restart it; null unless the store is NBD and started. */
    NbdServer nbdServer() {
        return nbd;
    }

    /**
     * A RAW file with the image's content now, for checks of what reached the store: the file
     * itself, or an export of the RBD image.
     */
    Path imageContent() throws IOException {
        if (store == Store.RBD && rbdImage != null) {
            return CephCluster.shared().exportImage(rbdImage, dir.resolve("rbd-export.raw"));
        }
        return image;
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
        if (nbd != null) {
            nbd.close();
        }
        if (rbdImage != null) {
            CephCluster.shared().removeImage(rbdImage);
        }
        if (first != null) {
            throw first;
        }
    }
}
