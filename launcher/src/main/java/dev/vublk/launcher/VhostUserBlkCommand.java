package dev.vublk.launcher;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.LinkedFilePolicy;
import dev.vublk.block.NetworkVolumes;
import dev.vublk.block.raw.RawImage;
import dev.vublk.control.BlockIoErrorEvent;
import dev.vublk.control.ControlServer;
import dev.vublk.control.DiskCommands;
import dev.vublk.control.QmpClientCommand;
import dev.vublk.metrics.MetricsAddress;
import dev.vublk.metrics.MetricsServer;
import dev.vublk.uring.UnixListener;
import dev.vublk.vhost.VhostUserServer;
import dev.vublk.vhost.blk.BlkDisk;
import dev.vublk.vhost.blk.BlkDeviceOptions;
import dev.vublk.vhost.blk.EnospcPolicy;
import dev.vublk.vhost.blk.IoLimits;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** The {@code vhost-user-blk} command, following the vhost-user spec's back-end program conventions. */
@Command(name = "vhost-user-blk", mixinStandardHelpOptions = true, versionProvider = Version.class,
        sortOptions = false, usageHelpWidth = 100, subcommands = QmpClientCommand.class,
        description = "Serves a RAW, QCOW2 or VHDX image to a VMM as a vhost-user block device.")
final class VhostUserBlkCommand implements Callable<Integer> {
    static final String CAPABILITIES = "{\"type\": \"block\", \"features\": [\"read-only\", \"blk-file\"]}";

    static final class Endpoint {
        @Option(names = "--socket-path", paramLabel = "PATH", description = "Listen on this Unix socket.")
        Path socketPath;

        @Option(names = "--fd", paramLabel = "FDNUM", description = "Use this inherited, listening socket.")
        Integer fd;
    }

    enum Format { auto, raw, qcow2, vhdx }

    enum OnOff { on, off }

    /**
     * Image locking: QEMU's {@code locking=on|off|auto} of its file driver, or {@code --no-lock}.
     * QEMU's auto locks whenever the kernel has OFD locks, which every kernel with io_uring has.
     */
    static final class Locking {
        enum Mode { on, off, auto }

        @Option(names = "--locking", paramLabel = "on|off|auto",
                description = "Take the byte-range locks QEMU takes on image files, so QEMU, qemu-img and other"
                        + " backends cannot open an image in use in a conflicting way (QEMU's locking= option;"
                        + " default auto, which is on: every kernel we run on has OFD locks). Network storage"
                        + " takes no file locks.")
        Mode mode;

        @Option(names = "--no-lock", description = "Same as --locking off.")
        boolean noLock;

        boolean enabled() {
            return !noLock && mode != Mode.off;
        }
    }

    @Spec
    CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    Endpoint endpoint;

    @Option(names = "--print-capabilities", description = "Print the back-end's capabilities as JSON and exit.")
    boolean printCapabilities;

    @Option(names = "--blk-file", paramLabel = "PATH|URI",
            description = "The image or block device to serve, or network storage served RAW:"
                    + " rbd:POOL/IMAGE[@SNAPSHOT][:conf=PATH][:id=USER] (QEMU's syntax),"
                    + " nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH.")
    String blkFile;

    @Option(names = "--read-only", description = "Serve the image read-only.")
    boolean readOnly;

    @Option(names = "--format", paramLabel = "FMT", defaultValue = "auto",
            description = "auto, raw, qcow2 or vhdx (default: ${DEFAULT-VALUE}).")
    Format format;

    @Option(names = "--allow-backing-dir", paramLabel = "DIR",
            description = "Open backing files, qcow2 external data files and VHDX parents named by the image only"
                    + " if their real path (symbolic links followed) lies under DIR; repeatable.")
    List<Path> allowedBackingDirs = new ArrayList<>();

    @Option(names = "--no-backing-files",
            description = "Refuse an image that names any backing file, external data file or VHDX parent"
                    + " (for images from untrusted sources).")
    boolean noBackingFiles;

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    Locking locking;

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

    @Option(names = "--reconnect-delay", paramLabel = "SECONDS", defaultValue = "20",
            description = "How long requests to network storage that went away wait for it to come back before"
                    + " they fail (default: ${DEFAULT-VALUE}).")
    int reconnectDelay;

    enum OnEnospc { report, wait }

    @Option(names = "--on-enospc", paramLabel = "report|wait", defaultValue = "report",
            description = "When the image's file system has no space (ENOSPC, EDQUOT) for a write: report an I/O error"
                    + " to the guest at once, or wait: hold the request and retry it every second until space returns,"
                    + " for at most --enospc-max-wait (QEMU's werror=report|enospc; default: ${DEFAULT-VALUE}).")
    OnEnospc onEnospc;

    @Option(names = "--enospc-max-wait", paramLabel = "SECONDS", defaultValue = "60",
            description = "With --on-enospc wait: how long a request is held before the guest gets an I/O error"
                    + " (default: ${DEFAULT-VALUE}).")
    int enospcMaxWait;

    @Option(names = "--control-socket", paramLabel = "PATH",
            description = "Serve QMP commands (query-status, query-block, query-stats, block_resize, ...) on this"
                    + " Unix socket, mode 0600; 'vhost-user-blk qmp' is a client.")
    Path controlSocket;

    @Option(names = "--metrics", paramLabel = "ADDR",
            description = "Serve the statistics in the Prometheus text format at http://ADDR/metrics. ADDR is PORT,"
                    + " HOST:PORT or [IPV6]:PORT; the host is " + MetricsAddress.DEFAULT_HOST + " unless given.")
    String metrics;

    @Mixin
    IoLimitOptions ioLimits;

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
        IoLimits limits = ioLimits.limits(spec.commandLine());
        configureLogging();
        Shutdown shutdown = Shutdown.onSignals();
        BlkDeviceOptions options = new BlkDeviceOptions(numQueues, queueSize,
                serial != null ? serial : defaultSerial(blkFile), logicalBlockSize, writeCache == OnOff.on);
        ImageOptions imageOptions = ImageOptions.defaults().withReadOnly(readOnly).withDirect(direct)
                .withLinkedFiles(linkedFilePolicy()).withReconnectDelay(java.time.Duration.ofSeconds(reconnectDelay))
                .withLocking(locking == null || locking.enabled());
        ImageFormat fmt = format == Format.auto ? null : ImageFormat.valueOf(format.name().toUpperCase());
        BlockImage image;
        try {
            image = Images.open(blkFile, fmt, imageOptions);
        } catch (IOException e) {
            spec.commandLine().getErr().println("vhost-user-blk: cannot open image: " + e.getMessage());
            return 1;
        }
        logStart(image, options, limits, imageOptions.locking());
        try (image) {
            BlkDisk disk = new BlkDisk(image, options);
            disk.setLimits(limits);
            disk.setEnospcPolicy(enospcPolicy());
            serve(disk, shutdown);
        }
        return 0;
    }

    /** Serves front-ends, the control socket and the metrics until a shutdown is asked for. */
    private void serve(BlkDisk disk, Shutdown shutdown) throws IOException {
        try (UnixListener listener = endpoint.socketPath != null
                ? UnixListener.listen(endpoint.socketPath, 1) : UnixListener.fromFd(endpoint.fd)) {
            VhostUserServer server = new VhostUserServer(listener, disk::newDevice);
            if (!shutdown.serving(server)) {
                return;
            }
            try (MetricsServer _ = metrics == null ? null
                    : MetricsServer.start(MetricsAddress.parse(metrics), disk::statistics);
                 ControlServer control = controlSocket == null ? null : ControlServer.start(controlSocket,
                    DiskCommands.of(disk), new Version().getVersion()[0], () -> shutdown.request(null))) {
                shutdown.announceTo(control);
                if (control != null) {
                    BlockIoErrorEvent.attach(disk, control);
                }
                server.run();
            }
        }
    }

    /** Resolves the allowed directories now, so a later symlink change cannot widen them. */
    private LinkedFilePolicy linkedFilePolicy() {
        if (noBackingFiles) {
            return LinkedFilePolicy.NONE;
        }
        if (allowedBackingDirs.isEmpty()) {
            return LinkedFilePolicy.ANY;
        }
        try {
            return LinkedFilePolicy.confinedTo(allowedBackingDirs);
        } catch (IOException e) {
            throw new ParameterException(spec.commandLine(), "--allow-backing-dir: " + e.getMessage());
        }
    }

    /**
     * The one line an operator reads to know what this process serves: the image chain with
     * formats, sizes and cluster sizes, the endpoint, and every setting that shapes the device.
     */
    private void logStart(BlockImage image, BlkDeviceOptions options, IoLimits limits, boolean locked) {
        org.slf4j.Logger log = LoggerFactory.getLogger(VhostUserBlkCommand.class);
        StringBuilder more = new StringBuilder();
        if (NetworkVolumes.names(blkFile)) {
            more.append(", reconnect delay ").append(reconnectDelay).append(" s");
        } else {
            more.append(", image locking ").append(locked ? "on" : "off");
        }
        if (limits.limited()) {
            more.append(", I/O limits ").append(limits.describe());
        }
        if (onEnospc == OnEnospc.wait && !readOnly) { // like I/O limits, said when not the default
            more.append(", on ENOSPC ").append(enospcPolicy().describe());
        }
        if (controlSocket != null) {
            more.append(", control socket ").append(controlSocket);
        }
        if (metrics != null) {
            java.net.InetSocketAddress a = MetricsAddress.parse(metrics);
            String host = a.getHostString().contains(":") ? "[" + a.getHostString() + "]" : a.getHostString();
            more.append(", metrics at http://").append(host).append(':').append(a.getPort()).append("/metrics");
        }
        log.info("serving {} on {}: {} queue(s) of up to {} entries, logical block {} bytes, write cache {},"
                        + " direct I/O {}, serial \"{}\"{}", String.join("; ", Images.describeChain(image)),
                endpoint.socketPath != null ? endpoint.socketPath : "inherited socket fd " + endpoint.fd,
                options.numQueues(), options.maxQueueSize(), options.logicalBlockSize(), writeCache,
                direct ? "on" : "off", options.serial(), more);
        if (image instanceof RawImage raw && raw.guardsFirstSector()) {
            log.warn("{}: format detected as RAW; guest writes that would make it look like another format are"
                    + " refused. Pass --format raw if the image is RAW, so the format is never guessed", image.location());
        }
    }

    EnospcPolicy enospcPolicy() {
        return onEnospc == OnEnospc.wait ? EnospcPolicy.waitFor(java.time.Duration.ofSeconds(enospcMaxWait)) : EnospcPolicy.REPORT;
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
        if (noBackingFiles && !allowedBackingDirs.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "--no-backing-files and --allow-backing-dir exclude each other");
        }
        if (Level.toLevel(logLevel, null) == null) {
            throw new ParameterException(spec.commandLine(), "unknown --log-level " + logLevel);
        }
        if (reconnectDelay < 0 || reconnectDelay > 3600) {
            throw new ParameterException(spec.commandLine(), "--reconnect-delay must be between 0 and 3600 seconds");
        }
        if (enospcMaxWait < 1 || enospcMaxWait > 86_400) {
            throw new ParameterException(spec.commandLine(), "--enospc-max-wait must be between 1 and 86400 seconds");
        }
        if (metrics != null) {
            try {
                MetricsAddress.parse(metrics);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), "--metrics: " + e.getMessage());
            }
        }
        if (!NetworkVolumes.names(blkFile) && !Files.exists(Path.of(blkFile))) {
            throw new IllegalStateException("image " + blkFile + " does not exist");
        }
    }

    private void configureLogging() {
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        root.setLevel(Level.toLevel(logLevel));
    }

    /**
     * A stable serial per image, so a guest sees the same disk id across restarts: the file name,
     * or the last part of a network location before any option or query ({@code rbd:pool/vm1:id=u}
     * gives {@code vm1}).
     */
    static String defaultSerial(String location) {
        String name = location;
        if (location.startsWith("rbd:")) {
            name = name.substring(4).split("(?<!\\\\):", 2)[0]; // options follow an unescaped ':'
        } else if (NetworkVolumes.names(location)) {
            name = name.replaceFirst("^[a-z+]+://", "").split("\\?", 2)[0]; // an NBD URI's query
        }
        name = name.replaceFirst("/+$", "");
        name = name.substring(name.lastIndexOf('/') + 1);
        if (name.isEmpty()) {
            name = "vublk"; // an NBD export with an empty name
        }
        return name.length() <= 20 ? name : name.substring(0, 20);
    }
}
