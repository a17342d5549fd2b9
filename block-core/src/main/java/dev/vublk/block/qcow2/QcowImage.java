package dev.vublk.block.qcow2;

import dev.vublk.block.BlockImage;
import dev.vublk.block.DirectAlignment;
import dev.vublk.block.ImageException;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.ImageChain;
import dev.vublk.block.Mapping;
import dev.vublk.block.raw.RawImage;
import dev.vublk.block.vhdx.VhdxImage;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A qcow2 image: validates the header, opens the external data file and the backing chain, and
 * holds the {@link QcowMetadata} every queue's {@link QcowMapping} shares. Backing images are
 * always opened read-only; their format comes from the backing format header extension (raw when
 * absent, unless {@link ImageOptions#probeBacking()} allows looking at the content).
 *
 * <p>With {@link ImageOptions#direct()}, guest data moves through an O_DIRECT descriptor (of the
 * external data file, or a second one of the image file) while metadata keeps a buffered one:
 * tables are read and written with ordinary buffers, and compressed streams are not aligned.
 */
public final class QcowImage implements BlockImage {
    private final Path path;
    private final NativeFile file;
    private final NativeFile dataFile;
    /** The O_DIRECT descriptor of the image file for data I/O, or null. */
    private final NativeFile directFile;
    /** O_DIRECT alignment of data I/O; 1 when buffered (any address works), as for every format. */
    private final int directAlignment;
    private final QcowMetadata meta;
    private final BlockImage backing;
    private final boolean readOnly;
    private volatile boolean closed;

    private QcowImage(Path path, NativeFile file, NativeFile dataFile, NativeFile directFile, int directAlignment,
                      QcowMetadata meta, BlockImage backing, boolean readOnly) {
        this.path = path;
        this.file = file;
        this.dataFile = dataFile;
        this.directFile = directFile;
        this.directAlignment = directAlignment;
        this.meta = meta;
        this.backing = backing;
        this.readOnly = readOnly;
    }

    public static QcowImage open(Path path, ImageOptions options) throws IOException {
        ImageChain chain = new ImageChain(options);
        return open(chain.openTop(path, !options.readOnly(), false), options, chain);
    }

    /**
     * Opens one link of a chain from its open descriptor, which it owns from here on (closed on
     * failure); {@code chain} opens every file the image names.
     */
    static QcowImage open(NativeFile file, ImageOptions options, ImageChain chain) throws IOException {
        Path path = file.path();
        boolean readOnly = options.readOnly();
        NativeFile dataFile = null;
        NativeFile directFile = null;
        BlockImage backing = null;
        try {
            QcowHeader h = readHeader(path, file);
            if (h.corrupt() && !readOnly) {
                throw new ImageException(path, "image is marked corrupt; it can only be opened read-only"
                        + " (repair it with 'qemu-img check -r all')");
            }
            if (h.hasDataFile()) {
                String name = h.extensionText(HeaderExtension.EXTERNAL_DATA_FILE);
                dataFile = chain.openDataFile(path, ImageChain.resolve(path, "external data file", name), !readOnly, options.direct());
            }
            if (h.backingFile() != null) {
                backing = openBacking(path, h, options, chain);
            }
            if (!readOnly) {
                h = prepareForWriting(path, file, dataFile == null ? file : dataFile, h, backing != null, options);
            }
            int alignment = 1; // any: buffered
            if (options.direct()) {
                if (dataFile == null) {
                    directFile = file.reopen(!readOnly, true);
                }
                alignment = DirectAlignment.probe(dataFile == null ? directFile : dataFile, path);
                if (backing != null && backing.memoryAlignment() > 1) {
                    // Backing reads go at this image's granularity: it must suit the backing file too.
                    alignment = Math.max(alignment, Math.max(backing.memoryAlignment(), backing.requestAlignment()));
                }
                // Copy-on-write and zeroing work in clusters, or subclusters with extended L2.
                int unit = h.extendedL2() ? h.clusterSize() / L2Entry.SUBCLUSTERS : h.clusterSize();
                if (unit < alignment) {
                    throw new ImageException(path, "O_DIRECT on this file needs " + alignment
                            + "-byte alignment, more than the image's " + unit + "-byte "
                            + (h.extendedL2() ? "subclusters" : "clusters"));
                }
            }
            long[] l1 = QcowMetadata.loadL1(file, h);
            NativeFile data = dataFile != null ? dataFile : directFile != null ? directFile : file;
            QcowMetadata meta = new QcowMetadata(file, data, alignment, h, l1, backing != null, options.cacheBytes());
            return new QcowImage(path, file, dataFile, directFile, alignment, meta, backing, readOnly);
        } catch (QcowFormatException e) {
            closeQuietly(file, directFile, backing);
            closeQuietly(dataFile);
            throw new ImageException(path, e.getMessage());
        } catch (IOException | RuntimeException e) {
            closeQuietly(file, directFile, backing);
            closeQuietly(dataFile);
            if (e instanceof ImageException ie) {
                throw ie;
            }
            throw new ImageException(path, e.getMessage(), e);
        }
    }

    private static QcowHeader readHeader(Path path, NativeFile file) throws IOException, QcowFormatException {
        long fileSize = file.size();
        byte[] start = file.readBytes(0, (int) Math.min(fileSize, QcowHeader.V3_MIN_LENGTH + 8));
        if (start.length < QcowHeader.V2_LENGTH) {
            throw new QcowFormatException("file is too short (" + fileSize + " bytes) for a qcow2 header");
        }
        int bits = java.nio.ByteBuffer.wrap(start).getInt(20);
        if (bits < 9 || bits > 21) {
            throw new QcowFormatException("cluster_bits " + bits + " outside 9..21");
        }
        byte[] head = file.readBytes(0, (int) Math.min(fileSize, 1L << bits));
        return QcowHeader.parse(head, fileSize);
    }

    /**
     * Read-write opens repair what the header says must be repaired: a dirty image gets its
     * refcounts rebuilt, and autoclear bits this engine does not maintain are cleared, which tells
     * other readers that the structures they guard (e.g. bitmaps) are stale. Both land in one
     * header write, the commit point of the rebuild: bitmap clusters are not counted by it.
     */
    private static QcowHeader prepareForWriting(Path path, NativeFile file, NativeFile dataFile, QcowHeader h,
                                                boolean hasBacking, ImageOptions options) throws IOException, QcowFormatException {
        long incompatible = h.incompatibleFeatures();
        long autoclear = h.autoclearFeatures() & QcowHeader.KNOWN_AUTOCLEAR;
        if (h.dirty()) {
            h = RefcountRebuild.rebuild(file, h);
            incompatible &= ~QcowHeader.INCOMPAT_DIRTY;
        }
        if (incompatible != h.incompatibleFeatures() || autoclear != h.autoclearFeatures()) {
            h = h.withFeatures(incompatible, autoclear);
            file.writeBytes(0, h.encodeFixed());
            file.fdatasync();
        }
        return h;
    }

    private static BlockImage openBacking(Path path, QcowHeader h, ImageOptions options, ImageChain chain) throws IOException {
        String fmt = h.extensionText(HeaderExtension.BACKING_FORMAT);
        ImageFormat format = null;
        if (fmt != null) {
            format = switch (fmt.trim()) {
                case "qcow2" -> ImageFormat.QCOW2;
                case "raw", "file", "host_device" -> ImageFormat.RAW;
                case "vhdx" -> ImageFormat.VHDX;
                default -> throw new ImageException(path, "unsupported backing file format '" + fmt + "'");
            };
        }
        NativeFile file = chain.openLink(path, "backing file", ImageChain.resolve(path, "backing file", h.backingFile()));
        ImageOptions ro = options.withReadOnly(true);
        try {
            if (format == null) {
                format = options.probeBacking() ? ImageFormat.detect(file) : ImageFormat.RAW;
            }
            return switch (format) {
                case QCOW2 -> open(file, ro, chain);
                case VHDX -> VhdxImage.open(file, ro, chain);
                case RAW -> rawBacking(file, ro.direct());
            };
        } catch (IOException | RuntimeException e) {
            closeQuietly(file);
            throw e;
        }
    }

    /**
     * With O_DIRECT a RAW backing file is read through a direct descriptor and the buffered one is
     * closed: a duplicate of the same description, which holds the file's locks.
     */
    private static RawImage rawBacking(NativeFile file, boolean direct) throws IOException {
        NativeFile data = file;
        if (direct) {
            try (file) {
                data = file.directDuplicate();
            }
        }
        try {
            return RawImage.of(data);
        } catch (IOException | RuntimeException e) {
            closeQuietly(data);
            throw e;
        }
    }

    private static void closeQuietly(NativeFile file, NativeFile second, BlockImage backing) {
        closeQuietly(file);
        closeQuietly(second);
        try {
            if (backing != null) {
                backing.close();
            }
        } catch (Exception ignored) {
            // Already failing.
        }
    }

    private static void closeQuietly(NativeFile f) {
        try {
            if (f != null) {
                f.close();
            }
        } catch (IOException ignored) {
            // Already failing or closing.
        }
    }

    public QcowMetadata metadata() { return meta; }

    @Override
    public Path path() { return path; }

    @Override
    public BlockImage backing() { return backing; }

    @Override
    public Path externalDataFile() { return dataFile == null ? null : dataFile.path(); }

    @Override
    public long size() { return meta.size(); }

    @Override
    public boolean readOnly() { return readOnly; }

    @Override
    public ImageFormat format() { return ImageFormat.QCOW2; }

    @Override
    public long allocationUnit() { return meta.clusterSize(); }

    @Override
    public int requestAlignment() { return Math.max(512, directAlignment); }

    @Override
    public int memoryAlignment() { return directAlignment; }

    @Override
    public boolean supportsDiscard() { return !readOnly; }

    @Override
    public Mapping newMapping() throws IOException {
        if (closed) {
            throw new ImageException(path, "image is closed");
        }
        return new QcowMapping(meta);
    }

    @Override
    public void flush() throws IOException {
        if (!readOnly) {
            meta.flushAll();
            file.fdatasync();
            if (dataFile != null) {
                dataFile.fdatasync();
            }
        }
    }

    @Override
    public void resize(long newSize) throws IOException {
        if (readOnly) {
            throw new ImageException(path, "image is read-only");
        }
        if (newSize < 0 || newSize % 512 != 0) {
            throw new ImageException(path, "size " + newSize + " is not a multiple of 512");
        }
        if (newSize < size() && meta.header().nbSnapshots() > 0) {
            // Dropping the active mappings would release clusters the snapshots' L2 tables still name.
            throw new UnsupportedOperationException(path + " has internal snapshots; it can grow but not shrink");
        }
        meta.resize(newSize);
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            flush();
        } finally {
            closeQuietly(file, directFile, backing);
            closeQuietly(dataFile);
        }
    }

    /** The buffered descriptor of the image file, which metadata goes through. */
    NativeFile metadataFile() {
        return file;
    }

    /** The descriptor guest data goes through (tests check its O_DIRECT flag). */
    NativeFile dataDescriptor() {
        return meta.dataFile();
    }
}
