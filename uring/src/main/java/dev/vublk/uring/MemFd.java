package dev.vublk.uring;

import java.lang.foreign.Arena;

/** Anonymous shared memory files: guest RAM in tests, inflight and log areas. */
public final class MemFd {
    private static final int MFD_CLOEXEC = 1, MFD_ALLOW_SEALING = 2;
    private static final int F_ADD_SEALS = 1033, F_GET_SEALS = 1034;
    /** The file cannot get smaller: a mapping of it can never reach past its end (SIGBUS). */
    public static final int F_SEAL_SHRINK = 0x2;

    private MemFd() {}

    /** A close-on-exec memfd of {@code size} bytes. */
    public static int create(String name, long size) throws NativeException {
        return create(name, size, MFD_CLOEXEC);
    }

    /**
     * A close-on-exec memfd of {@code size} bytes sealed against shrinking: for memory we map and
     * share with a peer, which could otherwise truncate it under our mapping.
     */
    public static int createUnshrinkable(String name, long size) throws NativeException {
        int fd = create(name, size, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        try {
            Libc.call("fcntl(F_ADD_SEALS)", name, Syscalls.FCNTL, fd, F_ADD_SEALS, F_SEAL_SHRINK);
        } catch (NativeException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
        return fd;
    }

    /** The seals of a memfd (F_SEAL_* bits). */
    public static int seals(int fd) throws NativeException {
        return (int) Libc.call("fcntl(F_GET_SEALS)", null, Syscalls.FCNTL, fd, F_GET_SEALS, 0);
    }

    /** Sets the file's size (ftruncate). */
    public static void resize(int fd, long size) throws NativeException {
        Libc.call("ftruncate", null, Syscalls.FTRUNCATE, fd, size);
    }

    private static int create(String name, long size, int flags) throws NativeException {
        int fd;
        try (Arena arena = Arena.ofConfined()) {
            fd = (int) Libc.call("memfd_create", name, Syscalls.MEMFD_CREATE, arena.allocateFrom(name), flags);
        }
        try {
            resize(fd, size);
        } catch (NativeException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
        return fd;
    }
}
