package dev.vublk.block;

import dev.vublk.block.engine.QueueEngine;
import dev.vublk.uring.IoUring;
import java.io.IOException;

/**
 * An open disk image, shared by every queue of a device. Metadata (if the format has any) lives
 * here; each queue thread gets its own {@link BlockWorker}, the one queue engine bound to that
 * thread's ring, asking this image's {@link Mapping} where each guest range lives.
 */
public interface BlockImage extends AutoCloseable {
    /** The guest-visible size in bytes. */
    long size();

    boolean readOnly();

    ImageFormat format();

    /** The image file as it was named (by the operator, or by the image above it). */
    java.nio.file.Path path();

    /**
     * Where the image lives, for messages: its path, or a location that is no path (an RBD
     * image {@code rbd:pool/image}, an NBD export's URI).
     */
    default String location() {
        return path().toString();
    }

    /** The image unallocated ranges are read from: the backing file or VHDX parent; null if none. */
    default BlockImage backing() {
        return null;
    }

    /** A qcow2 external data file holding the guest data, or null. */
    default java.nio.file.Path externalDataFile() {
        return null;
    }

    /**
     * The unit the format allocates in: a QCOW2 cluster, a VHDX block; 0 for formats that map
     * every byte where it is (RAW).
     */
    default long allocationUnit() {
        return 0;
    }

    /** Offsets and lengths of guest requests must be multiples of this (512 or 4096). */
    int requestAlignment();

    /** Buffers used with O_DIRECT must be aligned to this; 1 when any address works. */
    int memoryAlignment();

    /** Whether discard frees space (RAW: hole punching; QCOW2: cluster deallocation). */
    boolean supportsDiscard();

    /**
     * This image's mapping for one queue: where guest ranges live and what changes do, with
     * that queue's own state. Only the queue engine calls it.
     */
    Mapping newMapping() throws IOException;

    /** A worker for one queue thread, the engine over this image's mapping; every call on it must come from that thread. */
    default BlockWorker newWorker(IoUring ring) throws IOException {
        return new QueueEngine(this, newMapping(), ring);
    }

    /** Writes dirty metadata and syncs the files: the synchronous flush of shutdown paths. */
    void flush() throws IOException;

    /** Changes the virtual size; formats that cannot resize throw {@link UnsupportedOperationException}. */
    default void resize(long newSize) throws IOException {
        throw new UnsupportedOperationException("resize is not supported for " + format());
    }

    /** Flushes and releases everything; a closed image rejects new workers. */
    @Override
    void close() throws IOException;
}
