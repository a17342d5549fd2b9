package dev.vublk.block.raw;

import dev.vublk.block.BlockImage;
import dev.vublk.block.BlockWorker;
import dev.vublk.block.ImageException;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.nio.file.Path;

/** A RAW image or block device: guest offset = file offset, no metadata. */
public final class RawImage implements BlockImage {
    /** O_DIRECT buffers must be aligned to the logical block size; 512 covers files and 512e disks. */
    static final int DIRECT_ALIGNMENT = 512;

    private final NativeFile file;
    private final boolean readOnly;
    private volatile long size;
    private volatile boolean closed;

    private RawImage(NativeFile file, boolean readOnly, long size) {
        this.file = file;
        this.readOnly = readOnly;
        this.size = size;
    }

    public static RawImage open(Path path, ImageOptions options) throws IOException {
        NativeFile file;
        try {
            file = NativeFile.open(path, !options.readOnly(), options.direct());
        } catch (NativeException e) {
            throw new ImageException(path, "cannot open: " + e.getMessage(), e);
        }
        return new RawImage(file, options.readOnly(), file.size());
    }

    /** Wraps an already open file (backing files opened by other formats). */
    public static RawImage of(NativeFile file) throws NativeException {
        return new RawImage(file, !file.writable(), file.size());
    }

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
    public int requestAlignment() { return 512; }

    @Override
    public int memoryAlignment() { return file.direct() ? DIRECT_ALIGNMENT : 1; }

    @Override
    public boolean supportsDiscard() { return !readOnly; }

    @Override
    public BlockWorker newWorker(IoUring ring) throws IOException {
        if (closed) {
            throw new ImageException(file.path(), "image is closed");
        }
        return new RawWorker(file, ring, size);
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
