package dev.vublk.uring;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

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
     * {@code listen}, so no other user can connect.
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
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment addr = SocketAddress.of(arena, path);
            Libc.call("bind", path.toString(), Syscalls.BIND, fd, addr, SocketAddress.SIZE);
            Libc.call("chmod", path.toString(), Syscalls.FCHMODAT, Syscalls.AT_FDCWD, arena.allocateFrom(path.toString()), 0600, 0);
            Libc.call("listen", path.toString(), Syscalls.LISTEN, fd, backlog);
            return new UnixListener(fd, path);
        } catch (IOException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
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
