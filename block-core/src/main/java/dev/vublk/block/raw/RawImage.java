package dev.vublk.block.raw;

import dev.vublk.block.BlockImage;
import dev.vublk.block.DirectAlignment;
import dev.vublk.block.ImageException;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Mapping;
import dev.vublk.block.storage.FileStorage;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.nio.file.Path;

/** A RAW image or block device: guest offset = file offset, no metadata. */
public final class RawImage implements BlockImage {
    private final NativeFile file;
    /** The file as storage, with its probed O_DIRECT alignment. */
    private final FileStorage storage;
    private final boolean readOnly;
    /** Set when the format was detected: writes must not turn the image into another format. */
    private final FirstSectorGuard guard;
    private volatile long size;
    private volatile boolean closed;

    private RawImage(NativeFile file, boolean readOnly, long size, FirstSectorGuard guard) throws IOException {
        this.file = file;
        this.storage = new FileStorage(file, file.direct() ? DirectAlignment.probe(file, file.path()) : 1);
        this.readOnly = readOnly;
        this.size = size;
        this.guard = guard;
    }

    /** Opens an image the operator declared RAW: guest writes are not restricted. */
    public static RawImage open(Path path, ImageOptions options) throws IOException {
        return open(path, options, false);
    }

    /**
     * @param probed the format was detected rather than given: writes to the first sector that
     *     would make the image detect as another format are refused
     */
    public static RawImage open(Path path, ImageOptions options, boolean probed) throws IOException {
        NativeFile file;
        try {
            file = NativeFile.open(path, !options.readOnly(), options.direct());
        } catch (NativeException e) {
            throw new ImageException(path, "cannot open: " + e.getMessage(), e);
        }
        try {
            return new RawImage(file, options.readOnly(), file.size(), probed ? new FirstSectorGuard(path) : null);
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /** Wraps an already open file (backing files opened by other formats, never written). */
    public static RawImage of(NativeFile file) throws IOException {
        return new RawImage(file, !file.writable(), file.size(), null);
    }

    /** Whether guest writes are kept from giving this probed image another format's magic. */
    public boolean guardsFirstSector() {
        return guard != null;
    }

    @Override
    public Path path() { return file.path(); }

    NativeFile file() {
        return file;
    }

    @Override
    public long size() { return size; }

    @Override
    public boolean readOnly() { return readOnly; }

    @Override
    public ImageFormat format() { return ImageFormat.RAW; }

    @Override
    public int requestAlignment() { return Math.max(512, storage.alignment()); }

    @Override
    public int memoryAlignment() { return storage.alignment(); }

    @Override
    public boolean supportsDiscard() { return !readOnly; }

    @Override
    public Mapping newMapping() throws IOException {
        if (closed) {
            throw new ImageException(file.path(), "image is closed");
        }
        return new RawMapping(this, storage, guard);
    }

    @Override
    public void flush() throws IOException {
        if (!readOnly) {
            file.fdatasync();
        }
    }

    @Override
    public void resize(long newSize) throws IOException {
        if (readOnly) {
            throw new ImageException(file.path(), "read-only");
        }
        if (file.isBlockDevice()) {
            throw new UnsupportedOperationException("a block device cannot be resized");
        }
        file.truncate(newSize);
        size = newSize;
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
            file.close();
        }
    }
}
