package dev.vublk.tests.backend;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.uring.UnixListener;
import dev.vublk.vhost.VhostUserServer;
import dev.vublk.vhost.blk.BlkDeviceOptions;
import dev.vublk.vhost.blk.BlkDisk;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

/** Our backend on a thread of this JVM: the fastest way to test the protocol and see its failures. */
public final class InProcessBackend implements RunningBackend {
    private final Path socket;
    private final BlockImage image;
    private final BlkDisk disk;
    private final VhostUserServer server;
    private final Thread thread;
    private final AtomicReference<Throwable> failure = new AtomicReference<>();

    private InProcessBackend(Path socket, BlockImage image, BlkDisk disk, UnixListener listener) {
        this.socket = socket;
        this.image = image;
        this.disk = disk;
        this.server = new VhostUserServer(listener, disk::newDevice);
        this.thread = new Thread(this::serve, "backend-" + socket.getFileName());
    }

    public static InProcessBackend start(BackendSpec spec, Path socket) throws IOException {
        // "auto" detects the format, as the launcher's --format auto does.
        ImageFormat format = spec.format().equals("auto") ? null : ImageFormat.valueOf(spec.format().toUpperCase());
        ImageOptions options = ImageOptions.defaults().withReadOnly(spec.readOnly());
        if (spec.network() != null) {
            options = options.withReconnectDelay(Duration.ofSeconds(spec.network().reconnectDelaySeconds()));
        }
        BlockImage image = Images.open(spec.location(), format, options);
        try {
            BlkDeviceOptions device = new BlkDeviceOptions(spec.numQueues(), 1024,
                    spec.serial() != null ? spec.serial() : "vublk-test", spec.logicalBlockSize(), spec.writeCache());
            UnixListener listener = UnixListener.listen(socket, 1);
            InProcessBackend b = new InProcessBackend(socket, image, new BlkDisk(image, device), listener);
            b.thread.start();
            return b;
        } catch (IOException | RuntimeException e) {
            image.close();
            throw e;
        }
    }

    private void serve() {
        try {
            server.run();
        } catch (Throwable t) {
            failure.set(t);
        }
    }

    /** The disk served, as the launcher holds it: tests resize it in process. */
    public BlkDisk disk() {
        return disk;
    }

    /** Whether the server loop is still accepting (it must survive every malformed input). */
    public boolean alive() {
        return thread.isAlive();
    }

    public Throwable failure() {
        return failure.get();
    }

    @Override
    public Path socket() {
        return socket;
    }

    @Override
    public String name() {
        return "ours";
    }

    @Override
    public void close() {
        server.stop();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            image.close();
        } catch (IOException ignored) {
            // the test already has its answer
        }
    }
}
