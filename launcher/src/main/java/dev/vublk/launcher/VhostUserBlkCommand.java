package dev.vublk.launcher;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.uring.UnixListener;
import dev.vublk.vhost.VhostUserServer;
import dev.vublk.vhost.blk.BlkDevice;
import dev.vublk.vhost.blk.BlkDeviceOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** The {@code vhost-user-blk} command, following the vhost-user spec's back-end program conventions. */
@Command(name = "vhost-user-blk", mixinStandardHelpOptions = true, versionProvider = Version.class,
        sortOptions = false, usageHelpWidth = 100,
        description = "Serves a RAW, QCOW2 or VHDX image to a VMM as a vhost-user block device.")
final class VhostUserBlkCommand implements Callable<Integer> {
    static final String CAPABILITIES = "{\"type\": \"block\", \"features\": [\"read-only-mode\", \"blk-file\"]}";

    static final class Endpoint {
        @Option(names = "--socket-path", paramLabel = "PATH", description = "Listen on this Unix socket.")
        Path socketPath;

        @Option(names = "--fd", paramLabel = "FDNUM", description = "Use this inherited, listening socket.")
        Integer fd;
    }

    enum Format { auto, raw, qcow2, vhdx }

    enum OnOff { on, off }

    @Spec
    CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    Endpoint endpoint;

    @Option(names = "--print-capabilities", description = "Print the back-end's capabilities as JSON and exit.")
    boolean printCapabilities;

    @Option(names = "--blk-file", paramLabel = "PATH", description = "The image or block device to serve.")
    Path blkFile;

    @Option(names = "--read-only", description = "Serve the image read-only.")
    boolean readOnly;

    @Option(names = "--format", paramLabel = "FMT", defaultValue = "auto",
            description = "auto, raw, qcow2 or vhdx (default: ${DEFAULT-VALUE}).")
    Format format;

    @Option(names = "--num-queues", paramLabel = "N", defaultValue = "8",
            description = "Queues offered to the VMM (default: ${DEFAULT-VALUE}); each started queue gets a thread.")
    int numQueues;

    @Option(names = "--queue-size", paramLabel = "N", defaultValue = "1024",
            description = "Largest queue size accepted, a power of two (default: ${DEFAULT-VALUE}).")
    int queueSize;

    @Option(names = "--direct", description = "Open the image with O_DIRECT, bypassing the host page cache.")
    boolean direct;

    @Option(names = "--serial", paramLabel = "ID", description = "Serial returned to GET_ID (at most 20 bytes).")
    String serial;

    @Option(names = "--logical-block-size", paramLabel = "BYTES", defaultValue = "512",
            description = "512 or 4096 (default: ${DEFAULT-VALUE}).")
    int logicalBlockSize;

    @Option(names = "--write-cache", paramLabel = "on|off", defaultValue = "on",
            description = "Report a write-back cache (the guest sends FLUSH) or write-through (default: ${DEFAULT-VALUE}).")
    OnOff writeCache;

    @Option(names = "--log-level", paramLabel = "LEVEL", defaultValue = "info",
            description = "error, warn, info, debug or trace (default: ${DEFAULT-VALUE}).")
    String logLevel;

    @Override
    public Integer call() throws Exception {
        if (printCapabilities) {
            spec.commandLine().getOut().println(CAPABILITIES);
            spec.commandLine().getOut().flush();
            return 0;
        }
        validate();
        configureLogging();
        // Installed before the socket exists: a VMM manager may send SIGTERM as soon as it sees it.
        java.util.concurrent.atomic.AtomicBoolean terminated = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicReference<VhostUserServer> running = new java.util.concurrent.atomic.AtomicReference<>();
        ShutdownSignals.onTerminate(() -> {
            terminated.set(true);
            VhostUserServer s = running.get();
            if (s != null) {
                s.stop();
            }
        });
        BlkDeviceOptions options = new BlkDeviceOptions(numQueues, queueSize,
                serial != null ? serial : defaultSerial(blkFile), logicalBlockSize, writeCache == OnOff.on);
        ImageOptions imageOptions = ImageOptions.defaults().withReadOnly(readOnly).withDirect(direct);
        ImageFormat fmt = format == Format.auto ? null : ImageFormat.valueOf(format.name().toUpperCase());
        BlockImage image;
        try {
            image = Images.open(blkFile, fmt, imageOptions);
        } catch (IOException e) {
            spec.commandLine().getErr().println("vhost-user-blk: cannot open image: " + e.getMessage());
            return 1;
        }
        try (image; UnixListener listener = endpoint.socketPath != null
                ? UnixListener.listen(endpoint.socketPath, 1) : UnixListener.fromFd(endpoint.fd)) {
            VhostUserServer server = new VhostUserServer(listener, () -> new BlkDevice(image, options));
            running.set(server);
            if (terminated.get()) {
                return 0;
            }
            server.run();
        }
        return 0;
    }

    private void validate() {
        if (endpoint == null) {
            throw new ParameterException(spec.commandLine(), "one of --socket-path or --fd is required");
        }
        if (blkFile == null) {
            throw new ParameterException(spec.commandLine(), "--blk-file is required");
        }
        if (logicalBlockSize != 512 && logicalBlockSize != 4096) {
            throw new ParameterException(spec.commandLine(), "--logical-block-size must be 512 or 4096");
        }
        if (numQueues < 1 || numQueues > 64) {
            throw new ParameterException(spec.commandLine(), "--num-queues must be between 1 and 64");
        }
        if (queueSize < 2 || queueSize > 32768 || Integer.bitCount(queueSize) != 1) {
            throw new ParameterException(spec.commandLine(), "--queue-size must be a power of two from 2 to 32768");
        }
        if (serial != null && serial.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 20) {
            throw new ParameterException(spec.commandLine(), "--serial is limited to 20 bytes");
        }
        if (Level.toLevel(logLevel, null) == null) {
            throw new ParameterException(spec.commandLine(), "unknown --log-level " + logLevel);
        }
        if (!Files.exists(blkFile)) {
            throw new IllegalStateException("image " + blkFile + " does not exist");
        }
    }

    private void configureLogging() {
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        root.setLevel(Level.toLevel(logLevel));
    }

    /** A stable serial per image file name, so a guest sees the same disk id across restarts. */
    static String defaultSerial(Path file) {
        String name = file.getFileName().toString();
        return name.length() <= 20 ? name : name.substring(0, 20);
    }
}
