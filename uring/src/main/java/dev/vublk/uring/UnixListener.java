package dev.vublk.uring;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** A listening Unix stream socket (the backend's side of {@code --socket-path} or {@code --fd}). */
public final class UnixListener implements AutoCloseable {
    private static final int SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, SHUT_RDWR = 2;
    private static final int S_IFMT = 0xF000, S_IFSOCK = 0xC000;

    private final int fd;
    private final Path path;
    private volatile boolean closed;

    private UnixListener(int fd, Path path) {
        this.fd = fd;
        this.path = path;
    }

    /**
     * Binds and listens on {@code path}. A stale socket file left by an earlier process is
     * replaced; any other kind of file there is refused. The socket is made mode 0600 before
     * {@code listen}, so no other user can connect. It is bound under a temporary name in the
     * same directory and renamed to {@code path} once it listens: whoever waits for the file to
     * appear (a VMM, a test) can connect at once, where a connect between bind and listen would
     * be refused. (When the temporary name would not fit a socket address, {@code path} is bound
     * directly.)
     */
    public static UnixListener listen(Path path, int backlog) throws IOException {
        if (Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
            // isOther() would also let a FIFO or device node be deleted: check for a socket exactly.
            int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            if ((mode & S_IFMT) != S_IFSOCK) {
                throw new IOException("refusing to replace " + path + ": it exists and is not a socket");
            }
            Files.delete(path);
        }
        int fd = (int) Libc.call("socket", path.toString(), Syscalls.SOCKET, SocketAddress.AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        Path bound = temporaryName(path);
        try (Arena arena = Arena.ofConfined()) {
            SocketAddress.of(arena, path); // clients connect to this name: it must fit an address
            MemorySegment addr = SocketAddress.of(arena, bound);
            Libc.call("bind", path.toString(), Syscalls.BIND, fd, addr, SocketAddress.SIZE);
            try {
                Libc.call("chmod", path.toString(), Syscalls.FCHMODAT, Syscalls.AT_FDCWD, arena.allocateFrom(bound.toString()), 0600, 0);
                Libc.call("listen", path.toString(), Syscalls.LISTEN, fd, backlog);
                if (!bound.equals(path)) {
                    Files.move(bound, path, StandardCopyOption.ATOMIC_MOVE);
                }
            } catch (IOException e) {
                Files.deleteIfExists(bound);
                throw e;
            }
            return new UnixListener(fd, path);
        } catch (IOException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
    }

    private static final java.util.concurrent.atomic.AtomicInteger TEMPORARY = new java.util.concurrent.atomic.AtomicInteger();

    /** A name beside {@code path} for this process, or {@code path} when a sibling would not fit. */
    static Path temporaryName(Path path) {
        Path parent = path.toAbsolutePath().getParent();
        Path tmp = parent.resolve(".vublk-" + ProcessHandle.current().pid() + "-" + TEMPORARY.incrementAndGet() + ".sock");
        return tmp.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length < SocketAddress.PATH_MAX ? tmp : path;
    }

    /** Adopts a descriptor that is already bound and listening ({@code --fd}). */
    public static UnixListener fromFd(int fd) throws NativeException {
        Fds.setCloexec(fd);
        return new UnixListener(fd, null);
    }

    /** Waits for the next connection; fails with a closed-socket error after {@link #close()}. */
    public UnixSocket accept() throws NativeException {
        int conn = (int) Libc.call("accept4", describe(), Syscalls.ACCEPT4, fd, MemorySegment.NULL, MemorySegment.NULL, SOCK_CLOEXEC);
        return UnixSocket.adopt(conn);
    }

    public int fd() {
        return fd;
    }

    public boolean isClosed() {
        return closed;
    }

    private String describe() {
        return path == null ? "fd " + fd : path.toString();
    }

    /** Wakes a thread blocked in {@link #accept()}, closes the socket and removes its file. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            Libc.call("shutdown", describe(), Syscalls.SHUTDOWN, fd, SHUT_RDWR);
        } catch (NativeException ignored) {
            // a listener that never accepted reports ENOTCONN; closing still follows
        }
        Fds.closeQuietly(fd);
        if (path != null) {
            try {
                Files.deleteIfExists(path);
            } catch (IOException ignored) {
                // a leftover socket file is replaced by the next listen
            }
        }
    }
}
