package dev.vublk.block.vhdx;

import dev.vublk.block.BlockImage;
import dev.vublk.block.DirectAlignment;
import dev.vublk.block.ImageChain;
import dev.vublk.block.ImageException;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Mapping;
import dev.vublk.block.storage.FileStorage;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;

/**
 * An open VHDX image with its parent chain (differencing disks). Shared by all queues; each queue
 * gets a {@link VhdxMapping}. Parents are opened read-only.
 */
public final class VhdxImage implements BlockImage {
    private final Path path;
    private final NativeFile file;
    private final NativeFile dataFile;
    /** The data file as storage, with its O_DIRECT alignment. */
    private final FileStorage dataStorage;
    private final VhdxMetadata metadata;
    private final VhdxImage parent;
    private final ImageOptions options;
    /** O_DIRECT's unit for this file and every parent; 1 without direct I/O. */
    private final int directAlignment;
    private volatile boolean closed;

    private VhdxImage(Path path, NativeFile file, NativeFile dataFile, VhdxMetadata metadata, VhdxImage parent, ImageOptions options,
                      int directAlignment) {
        this.path = path;
        this.file = file;
        this.dataFile = dataFile;
        this.dataStorage = new FileStorage(dataFile, directAlignment);
        this.metadata = metadata;
        this.parent = parent;
        this.options = options;
        this.directAlignment = directAlignment;
    }

    /** Opens an image; a read-only open of an image whose log needs replay is refused. */
    public static VhdxImage open(Path path, ImageOptions options) throws IOException {
        return open(path, options, false);
    }

    /**
     * @param replayReadOnly replay a pending log even when opening read-only (the file is briefly
     *     opened writable for it); otherwise such an image is refused with a clear message
     */
    public static VhdxImage open(Path path, ImageOptions options, boolean replayReadOnly) throws IOException {
        ImageChain chain = new ImageChain(options);
        return openLayer(chain.openTop(path, !options.readOnly(), false), options, replayReadOnly, chain);
    }

    /** Opens a VHDX backing file of another format's image; {@code file} is owned from here on. */
    public static VhdxImage open(NativeFile file, ImageOptions options, ImageChain chain) throws IOException {
        return openLayer(file, options, false, chain);
    }

    private static VhdxImage openLayer(NativeFile file, ImageOptions options, boolean replay, ImageChain chain)
            throws IOException {
        Path path = file.path();
        NativeFile dataFile = null;
        VhdxImage parent = null;
        try {
            VhdxMetadata metadata = VhdxMetadata.open(file, path, replay, options.cacheBytes());
            if (metadata.differencing()) {
                parent = openParent(path, metadata, options, replay, chain);
            }
            int alignment = 1;
            if (options.direct()) {
                dataFile = file.reopen(!options.readOnly(), true);
                alignment = Math.max(DirectAlignment.probe(dataFile, path), parent != null ? parent.directAlignment : 1);
            } else {
                dataFile = file;
            }
            return new VhdxImage(path, file, dataFile, metadata, parent, options, alignment);
        } catch (IOException | RuntimeException e) {
            closeQuietly(parent);
            if (dataFile != null && dataFile != file) {
                dataFile.close();
            }
            file.close();
            throw e;
        }
    }

    private static VhdxImage openParent(Path path, VhdxMetadata child, ImageOptions options, boolean replay,
                                        ImageChain chain) throws IOException {
        ParentLocator locator = child.parentLocator();
        List<UUID> linkages = locator.linkages(path);
        Path parentPath = ParentPaths.locate(locator, path);
        if (parentPath == null) {
            throw new ImageException(path, "parent image not found; tried " + ParentPaths.candidates(locator, path));
        }
        VhdxImage parent = openLayer(chain.openLink(path, "parent", parentPath), options.withReadOnly(true), replay, chain);
        try {
            UUID actual = parent.metadata.dataWriteGuid();
            if (!linkages.contains(actual)) {
                throw new ImageException(path, "parent " + parentPath + " has DataWriteGuid " + MsGuid.braced(actual)
                        + " but this image expects " + linkages.stream().map(MsGuid::braced).toList()
                        + ": the parent was modified or replaced after this image was made");
            }
            if (parent.metadata.logicalSectorSize() != child.logicalSectorSize()) {
                throw new ImageException(path, "parent " + parentPath + " has logical sector size "
                        + parent.metadata.logicalSectorSize() + ", this image " + child.logicalSectorSize());
            }
            return parent;
        } catch (IOException | RuntimeException e) {
            closeQuietly(parent);
            throw e;
        }
    }

    private static void closeQuietly(VhdxImage image) {
        if (image != null) {
            try {
                image.close();
            } catch (IOException ignored) {
                // already failing; the first error is the one reported
            }
        }
    }

    /**
     * Resolves where a guest range starts through the chain, as far as one extent reaches: DATA
     * (in this or an ancestor's data file) or ZERO, never PARENT. Takes no lock and allocates
     * nothing: the lookup of every guest request.
     */
    void resolve(long offset, long max, Extent out) throws IOException {
        metadata.mapInto(offset, max, out);
        if (out.kind == Extent.DATA) {
            out.storage = dataStorage; // the O_DIRECT descriptor when direct I/O is on
        } else if (out.kind == Extent.PARENT) {
            if (parent == null || offset >= parent.size()) {
                out.zero(out.length);
            } else {
                parent.resolve(offset, Math.min(out.length, parent.size() - offset), out);
            }
        }
    }

    @Override
    public Path path() { return path; }

    public VhdxMetadata metadata() { return metadata; }

    public VhdxImage parent() { return parent; }

    @Override
    public BlockImage backing() { return parent; }

    NativeFile dataFile() { return dataFile; }

    FileStorage dataStorage() { return dataStorage; }

    @Override
    public long size() { return metadata.virtualSize(); }

    @Override
    public boolean readOnly() { return options.readOnly(); }

    @Override
    public ImageFormat format() { return ImageFormat.VHDX; }

    @Override
    public long allocationUnit() { return metadata.blockSize(); }

    @Override
    public int requestAlignment() { return Math.max(metadata.logicalSectorSize(), directAlignment); }

    /** What O_DIRECT needs of guest buffers; the worker bounces buffers that miss it. */
    @Override
    public int memoryAlignment() { return directAlignment; }

    @Override
    public boolean supportsDiscard() { return !options.readOnly() && !metadata.leaveBlocksAllocated(); }

    @Override
    public Mapping newMapping() throws IOException {
        if (closed) {
            throw new ImageException(path, "image is closed");
        }
        return new VhdxMapping(this);
    }

    @Override
    public void flush() throws IOException {
        metadata.flush();
    }

    /**
     * Grows or shrinks a dynamic or differencing disk; the metadata changes through the log. Call
     * it with the queues quiet: requests in flight past a shrunk end are not waited for.
     */
    @Override
    public void resize(long newSize) throws IOException {
        if (closed) {
            throw new ImageException(path, "image is closed");
        }
        if (options.readOnly()) {
            throw new ImageException(path, "image is open read-only; cannot resize");
        }
        metadata.resize(newSize);
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            metadata.close();
        } finally {
            if (dataFile != file) {
                dataFile.close();
            }
            file.close();
            if (parent != null) {
                parent.close();
            }
        }
    }
}
