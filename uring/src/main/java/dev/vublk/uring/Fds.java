package dev.vublk.uring;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/** Plain file descriptor operations. */
public final class Fds {
    private static final int F_GETFD = 1, F_SETFD = 2, FD_CLOEXEC = 1;

    private Fds() {}

    public static void close(int fd) throws NativeException {
        Libc.call("close", null, Libc.CLOSE, fd);
    }

    /** Closes and ignores errors: for cleanup paths that already report a failure. */
    public static void closeQuietly(int fd) {
        if (fd < 0) {
            return;
        }
        try {
            close(fd);
        } catch (NativeException ignored) {
            // the fd is gone either way: Linux releases it even when close reports an error
        }
    }

    public static void closeAllQuietly(int[] fds) {
        if (fds != null) {
            for (int fd : fds) {
                closeQuietly(fd);
            }
        }
    }

    public static int dup(int fd) throws NativeException {
        int copy = (int) Libc.call("dup", null, Libc.DUP, fd);
        setCloexec(copy);
        return copy;
    }

    public static void setCloexec(int fd) throws NativeException {
        Libc.call("fcntl(F_SETFD)", null, Libc.FCNTL, fd, F_SETFD, FD_CLOEXEC);
    }

    public static boolean isCloexec(int fd) throws NativeException {
        return (Libc.call("fcntl(F_GETFD)", null, Libc.FCNTL, fd, F_GETFD, 0) & FD_CLOEXEC) != 0;
    }

    /** Whether {@code fd} is open in this process. */
    public static boolean isOpen(int fd) {
        return Files.exists(Path.of("/proc/self/fd/" + fd));
    }

    /** How many descriptors this process has open: tests compare it before and after. */
    public static int openCount() {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return (int) s.count() - 1; // the directory stream's own descriptor
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Sends a signal: used by tests and the launcher's crash tooling. */
    public static void kill(int pid, int signal) throws NativeException {
        Libc.call("kill", null, Libc.KILL, pid, signal);
    }
}
