package dev.vublk.uring;

import java.lang.foreign.Arena;

/** Anonymous shared memory files: guest RAM in tests, inflight and log areas. */
public final class MemFd {
    private static final int MFD_CLOEXEC = 1;

    private MemFd() {}

    /** A close-on-exec memfd of {@code size} bytes. */
    public static int create(String name, long size) throws NativeException {
        int fd;
        try (Arena arena = Arena.ofConfined()) {
            fd = (int) Libc.call("memfd_create", name, Libc.MEMFD_CREATE, arena.allocateFrom(name), MFD_CLOEXEC);
        }
        try {
            Libc.call("ftruncate", name, Libc.FTRUNCATE, fd, size);
        } catch (NativeException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
        return fd;
    }
}
