package dev.vublk.block.raw;

import dev.vublk.block.BlockImage;
import dev.vublk.block.DirectAlignment;
import dev.vublk.block.ImageChain;
import dev.vublk.block.ImageException;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Mapping;
import dev.vublk.block.storage.FileStorage;
import dev.vublk.block.storage.Volume;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A RAW image: a {@link Volume} served as it is, guest offset = volume offset, no metadata. The
 * volume is a file or block device, an RBD image or an NBD export.
 */
public final class RawImage implements BlockImage {
    private final Volume volume;
    private final boolean readOnly;
    /** Set when the format was detected: writes must not turn the image into another format. */
    private final FirstSectorGuard guard;
    private volatile long size;
    private volatile boolean closed;

    private RawImage(Volume volume, boolean readOnly, long size, FirstSectorGuard guard) {
        this.volume = volume;
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
        NativeFile file = new ImageChain(options).openTop(path, !options.readOnly(), options.direct());
        try {
            return new RawImage(fileStorage(file), options.readOnly(), file.size(), probed ? new FirstSectorGuard(path.toString()) : null);
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /** Wraps an already open file (backing files opened by other formats, never written). */
    public static RawImage of(NativeFile file) throws IOException {
        return new RawImage(fileStorage(file), !file.writable(), file.size(), null);
    }

    /**
     * Serves an open volume (network storage: the operator named it, its format is RAW); the image
     * owns it from here on and closes it.
     */
    public static RawImage over(Volume volume, boolean readOnly) throws IOException {
        try {
            return new RawImage(volume, readOnly || !volume.writable(), volume.size(), null);
        } catch (IOException | RuntimeException e) {
            volume.close();
            throw e;
        }
    }

    private static FileStorage fileStorage(NativeFile file) throws IOException {
        return new FileStorage(file, file.direct() ? DirectAlignment.probe(file, file.path()) : 1);
    }

    /** Whether guest writes are kept from giving this probed image another format's magic. */
    public boolean guardsFirstSector() {
        return guard != null;
    }

    @Override
    public Path path() { return Path.of(volume.name()); }

    @Override
    public String location() { return volume.name(); }

    /** The volume the image is served from. */
    Volume volume() {
        return volume;
    }

    @Override
    public long size() { return size; }

    @Override
    public boolean readOnly() { return readOnly; }

    @Override
    public ImageFormat format() { return ImageFormat.RAW; }

    @Override
    public int requestAlignment() { return Math.max(512, volume.alignment()); }

    @Override
    public int memoryAlignment() { return volume.alignment(); }

    @Override
    public boolean supportsDiscard() { return !readOnly; }

    @Override
    public Mapping newMapping() throws IOException {
        if (closed) {
            throw new ImageException(location(), "image is closed");
        }
        return new RawMapping(this, volume, guard);
    }

    @Override
    public void flush() throws IOException {
        if (!readOnly) {
            volume.flush();
        }
    }

    @Override
    public void resize(long newSize) throws IOException {
        if (readOnly) {
            throw new ImageException(location(), "read-only");
        }
        volume.resize(newSize);
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
            volume.close();
        }
    }
}
