package dev.vublk.block.storage;

import java.io.IOException;

/**
 * A storage that is a whole disk by itself: a file or block device, an RBD image, an NBD export.
 * A RAW image is a volume served as it is; qcow2 and VHDX keep metadata in their file and use
 * {@link Storage} only. The synchronous calls here are for open, resize and shutdown paths,
 * never for a queue thread's requests.
 */
public interface Volume extends Storage, AutoCloseable {
    /** The size in bytes now. */
    long size() throws IOException;

    /** Changes the size; a volume that cannot (a block device, a snapshot) throws. */
    default void resize(long newSize) throws IOException {
        throw new UnsupportedOperationException(name() + " cannot be resized");
    }

    /** Makes every completed write durable, synchronously. */
    void flush() throws IOException;

    /** Releases the volume; every queue side made from it has been closed before. */
    @Override
    void close() throws IOException;
}
