package dev.vublk.block;

import dev.vublk.uring.Errno;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import dev.vublk.uring.OfdLocks;
import dev.vublk.uring.OfdLocks.Type;
import java.util.EnumSet;
import java.util.Set;

/**
 * The locks QEMU's file driver (block/file-posix.c) takes on image files, so that QEMU, qemu-img
 * and this backend see each other's use of a file and refuse what would corrupt it.
 *
 * <p>QEMU names four permissions a user of a node can hold (BLK_PERM_*, bit i in this order) and
 * says which of them it lets others hold at the same time. On the file, permission i held means
 * byte 100 + i locked shared; permission i <em>not</em> shared means byte 200 + i locked shared.
 * A user first takes all its own bytes, then tests with an exclusive F_OFD_GETLK that no other
 * description holds byte 200 + i of a permission it takes, nor byte 100 + i of one it does not
 * share. Since both sides lock before they test, of two users racing to open a file at least
 * one sees the other; neither ever waits. QEMU 6.1 and older also had "change children" (byte
 * 104/204), taken by nothing a user of an image file does and always shared: it is left alone.
 *
 * <p>The locks belong to the open file description they were taken on (see {@link OfdLocks}):
 * the image must keep that descriptor open for its whole life, and they go with its last close.
 */
public final class ImageLocks {
    private static final int PERMISSION_BASE = 100, UNSHARED_BASE = 200;

    /** QEMU's permissions, in the order of their bits; the names are the ones QEMU prints. */
    enum Permission {
        CONSISTENT_READ("consistent read"),
        WRITE("write"),
        WRITE_UNCHANGED("write unchanged"),
        RESIZE("resize");

        final String qemuName;

        Permission(String qemuName) {
            this.qemuName = qemuName;
        }
    }

    /**
     * What a user of the file takes and what it lets others take: the sets QEMU 7.2 locks on the
     * file node under a virtio-blk disk (checked in /proc/locks).
     */
    public enum Claim {
        /**
         * An image served read-write, or its external data file. The permissions of QEMU's qcow2
         * file node under a writable guest disk: we write, and resize (online resize, and formats
         * grow the file as they allocate); we let others read and write without changing what
         * the guest sees, never write or resize.
         */
        READ_WRITE(EnumSet.of(Permission.CONSISTENT_READ, Permission.WRITE, Permission.RESIZE),
                EnumSet.of(Permission.CONSISTENT_READ, Permission.WRITE_UNCHANGED)),
        /**
         * An image served read-only, a backing file, a VHDX parent, the external data file of a
         * read-only image: QEMU's read-only drive and its backing files alike. We read and need
         * what we read to stay as it is: nobody may write or resize the file meanwhile, so other
         * readers share it and writers are refused.
         */
        READ_ONLY(EnumSet.of(Permission.CONSISTENT_READ),
                EnumSet.of(Permission.CONSISTENT_READ, Permission.WRITE_UNCHANGED));

        final Set<Permission> taken;
        final Set<Permission> shared;

        Claim(Set<Permission> taken, Set<Permission> shared) {
            this.taken = taken;
            this.shared = shared;
        }

        /** The claim for a file opened for writing or not. */
        public static Claim of(boolean writable) {
            return writable ? READ_WRITE : READ_ONLY;
        }
    }

    private ImageLocks() {}

    /**
     * Takes {@code claim}'s locks on {@code file}, or none: on a conflict the bytes already taken
     * are given back and the exception names the permission and says another process uses it.
     */
    public static void acquire(NativeFile file, Claim claim) throws ImageException {
        EnumSet<Permission> unshared = EnumSet.complementOf(EnumSet.copyOf(claim.shared));
        try {
            for (Permission p : claim.taken) {
                take(file, PERMISSION_BASE + p.ordinal());
            }
            for (Permission p : unshared) {
                take(file, UNSHARED_BASE + p.ordinal());
            }
            for (Permission p : claim.taken) {
                if (OfdLocks.conflicting(file, UNSHARED_BASE + p.ordinal(), 1, Type.EXCLUSIVE) != null) {
                    throw new ImageException(file.path(), "Failed to get \"" + p.qemuName + "\" lock: another process"
                            + " is using the image and does not share \"" + p.qemuName + "\"");
                }
            }
            for (Permission p : unshared) {
                if (OfdLocks.conflicting(file, PERMISSION_BASE + p.ordinal(), 1, Type.EXCLUSIVE) != null) {
                    throw new ImageException(file.path(), "Failed to get shared \"" + p.qemuName + "\" lock: another"
                            + " process is using the image with \"" + p.qemuName + "\"");
                }
            }
        } catch (NativeException e) {
            release(file);
            throw new ImageException(file.path(), "cannot take the image locks QEMU uses: " + e.getMessage(), e);
        } catch (ImageException | RuntimeException e) {
            release(file);
            throw e;
        }
    }

    /** A shared lock on one byte; an exclusive one held elsewhere is no QEMU user's, but a user all the same. */
    private static void take(NativeFile file, int offset) throws NativeException, ImageException {
        try {
            OfdLocks.lock(file, offset, 1, Type.SHARED);
        } catch (NativeException e) {
            if (e.errno() != Errno.EAGAIN && e.errno() != Errno.EACCES) {
                throw e;
            }
            throw new ImageException(file.path(), "Failed to lock byte " + offset
                    + ": another process is using the image and holds the byte exclusively");
        }
    }

    /** Gives back every byte of both ranges; releasing a byte not held is no error. */
    private static void release(NativeFile file) {
        try {
            OfdLocks.unlock(file, PERMISSION_BASE, Permission.values().length);
            OfdLocks.unlock(file, UNSHARED_BASE, Permission.values().length);
        } catch (NativeException ignored) {
            // Already failing; the locks go with the descriptor, which the caller closes.
        }
    }
}
