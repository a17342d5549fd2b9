package dev.vublk.block.storage.rbd;

import dev.vublk.block.ImageException;
import dev.vublk.block.storage.StorageQueue;
import dev.vublk.block.storage.Volume;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.Librbd;
import dev.vublk.uring.NativeException;
import java.io.IOException;
import java.util.Map;

/**
 * A Ceph RBD image as a {@link Volume}, through librbd: one cluster connection, pool context and
 * image handle shared by every queue (one exclusive-lock owner, one cache), and per queue an
 * {@link RbdQueue} whose asynchronous operations complete on that queue's ring.
 *
 * <p>Exclusive lock: as QEMU does, the image is opened normally and librbd manages the lock
 * cooperatively: it is taken on the first write and handed over when another client asks for
 * it (then taken back on our next write). That is what a user of {@code rbd} expects of a
 * served VM disk: {@code rbd status} shows us as a watcher, {@code rbd lock ls} as the owner
 * once we wrote, and a migration target or a maintenance tool can take the image without
 * killing us first. Read-only opens and snapshots never take it.
 */
public final class RbdVolume implements Volume {
    /** How long connecting may take before open fails (librbd's default waits 5 minutes). */
    static final String MOUNT_TIMEOUT_SECONDS = "10";

    private final RbdSpec spec;
    private final boolean writable;
    private final long cluster;
    private final long ioctx;
    private final long image;
    private boolean closed;

    private RbdVolume(RbdSpec spec, boolean writable, long cluster, long ioctx, long image) {
        this.spec = spec;
        this.writable = writable;
        this.cluster = cluster;
        this.ioctx = ioctx;
        this.image = image;
    }

    /**
     * Connects and opens the image named by {@code spec} (see {@link RbdSpec}); a snapshot opens
     * read-only whatever {@code readOnly} says. A missing cluster, pool or image, refused
     * credentials or a cluster not answering within 10 s throw an {@link ImageException} with
     * librbd's errno.
     */
    public static RbdVolume open(String spec, boolean readOnly) throws IOException {
        RbdSpec s = RbdSpec.parse(spec);
        boolean ro = readOnly || s.snapshot() != null;
        long cluster = 0, ioctx = 0;
        try {
            cluster = Librbd.radosCreate(s.entity());
            configure(cluster, s);
            Librbd.connect(cluster);
            ioctx = Librbd.ioctxCreate(cluster, s.pool());
            if (s.namespace() != null) {
                Librbd.ioctxSetNamespace(ioctx, s.namespace());
            }
            long image = Librbd.open(ioctx, s.image(), s.snapshot(), ro);
            return new RbdVolume(s, !ro, cluster, ioctx, image);
        } catch (NativeException e) {
            release(cluster, ioctx);
            throw new ImageException(s.location(), "cannot open: " + e.getMessage(), e);
        } catch (LinkageError e) {
            release(cluster, ioctx);
            throw new ImageException(s.location(), "librbd is not available (install librbd1): " + e, e);
        }
    }

    private static void configure(long cluster, RbdSpec s) throws NativeException {
        if (s.conf() != null) {
            Librbd.confReadFile(cluster, s.conf());
        } else {
            try {
                Librbd.confReadFile(cluster, null);
            } catch (NativeException e) {
                // No ceph.conf on the default path: the options may name the monitors themselves.
            }
        }
        Librbd.confSet(cluster, "client_mount_timeout", MOUNT_TIMEOUT_SECONDS);
        // A discard must read back as zeros (StorageQueue.zero); librbd otherwise skips the
        // parts of a discard that do not cover whole objects.
        Librbd.confSet(cluster, "rbd_skip_partial_discard", "false");
        for (Map.Entry<String, String> option : s.options()) {
            Librbd.confSet(cluster, option.getKey(), option.getValue());
        }
    }

    private static void release(long cluster, long ioctx) {
        if (ioctx != 0) {
            Librbd.ioctxDestroy(ioctx);
        }
        if (cluster != 0) {
            Librbd.shutdown(cluster);
        }
    }

    public RbdSpec spec() {
        return spec;
    }

    @Override
    public String name() {
        return spec.location();
    }

    @Override
    public boolean writable() {
        return writable;
    }

    /** librbd takes any offset, length and memory address. */
    @Override
    public int alignment() {
        return 1;
    }

    @Override
    public long size() throws IOException {
        return Librbd.size(image);
    }

    @Override
    public void resize(long newSize) throws IOException {
        if (!writable) {
            throw new UnsupportedOperationException(name() + " is open read-only and cannot be resized");
        }
        Librbd.resize(image, newSize);
    }

    @Override
    public void flush() throws IOException {
        if (writable) {
            Librbd.flush(image);
        }
    }

    /** Whether this client holds the image's exclusive lock now. */
    public boolean ownsExclusiveLock() throws IOException {
        return Librbd.isExclusiveLockOwner(image);
    }

    @Override
    public StorageQueue queue(IoUring ring) throws IOException {
        if (closed) {
            throw new IOException(name() + " is closed");
        }
        return new RbdQueue(name(), image, ring);
    }

    /** Closes the image (flushing librbd's cache), then the pool context and the connection. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            Librbd.close(image);
        } finally {
            release(cluster, ioctx);
        }
    }
}
