package dev.vublk.uring;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.stream.Stream;

/** Plain file descriptor operations. */
public final class Fds {
    private static final int F_GETFD = 1, F_SETFD = 2, FD_CLOEXEC = 1, O_CLOEXEC = 0x80000;
    private static final long STAT_SIZE = 144, ST_MODE = 24, ST_SIZE = 48;
    private static final int S_IFMT = 0xF000, S_IFREG = 0x8000, S_IFBLK = 0x6000;

    private Fds() {}

    public static void close(int fd) throws NativeException {
        Libc.call("close", null, Syscalls.CLOSE, fd);
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

    /** A close-on-exec pipe: {read end, write end}. */
    public static int[] pipe() throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(ValueLayout.JAVA_INT, 2);
            Libc.call("pipe2", null, Syscalls.PIPE2, fds, O_CLOEXEC);
            return new int[] {fds.getAtIndex(ValueLayout.JAVA_INT, 0), fds.getAtIndex(ValueLayout.JAVA_INT, 1)};
        }
    }

    public static int dup(int fd) throws NativeException {
        int copy = (int) Libc.call("dup", null, Syscalls.DUP, fd);
        setCloexec(copy);
        return copy;
    }

    public static void setCloexec(int fd) throws NativeException {
        Libc.call("fcntl(F_SETFD)", null, Syscalls.FCNTL, fd, F_SETFD, FD_CLOEXEC);
    }

    public static boolean isCloexec(int fd) throws NativeException {
        return (Libc.call("fcntl(F_GETFD)", null, Syscalls.FCNTL, fd, F_GETFD, 0) & FD_CLOEXEC) != 0;
    }

    /** Whether {@code fd} is open in this process. */
    public static boolean isOpen(int fd) {
        // The link itself: its target ("socket:[..]", "/memfd:x (deleted)") often is no path.
        return Files.exists(Path.of("/proc/self/fd/" + fd), LinkOption.NOFOLLOW_LINKS);
    }

    /**
     * What {@code fd} refers to, as /proc/self/fd shows it: a path, {@code pipe:[n]},
     * {@code socket:[n]}, {@code anon_inode:[eventfd]}... Fails with EBADF for a closed number.
     */
    public static String describe(int fd) throws NativeException {
        try {
            return Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
        } catch (IOException e) {
            throw new NativeException("readlink(/proc/self/fd/" + fd + ")", Errno.EBADF);
        }
    }

    /**
     * Whether reads and writes on {@code fd} take a file offset: true for regular files and
     * block devices, false for sockets, pipes and other streams.
     */
    public static boolean isSeekable(int fd) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(STAT_SIZE, 8);
            Libc.call("fstat", null, Syscalls.FSTAT, fd, st);
            int type = st.get(ValueLayout.JAVA_INT, ST_MODE) & S_IFMT;
            return type == S_IFREG || type == S_IFBLK;
        }
    }

    /**
     * st_size of {@code fd}: a mapping reaching past it would raise SIGBUS on access, so sizes a
     * peer claims for a descriptor it sent are checked against this first.
     */
    public static long fileSize(int fd) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(STAT_SIZE, 8);
            Libc.call("fstat", null, Syscalls.FSTAT, fd, st);
            return st.get(ValueLayout.JAVA_LONG, ST_SIZE);
        }
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
        Libc.call("kill", null, Syscalls.KILL, pid, signal);
    }
}
