package dev.vublk.uring;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A connected TCP or Unix stream socket for a network block store. Its blocking calls (connect,
 * {@link #readFully}, {@link #writeFully}) are bounded by the timeout given at connect, so a silent peer costs at most that long; the data path then
 * runs on an {@link IoUring} with {@link #fd()}.
 */
public final class StreamSocket implements AutoCloseable {
    private static final int SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, SOCK_NONBLOCK = 0x800, SHUT_RDWR = 2;
    private static final int F_GETFL = 3, F_SETFL = 4, POLLOUT = 4;
    private static final int SOL_SOCKET = 1, SO_ERROR = 4, IPPROTO_TCP = 6, TCP_NODELAY = 1;
    private static final int MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000;

    private final int fd;
    private final String peer;
    private volatile boolean closed;

    private StreamSocket(int fd, String peer) {
        this.fd = fd;
        this.peer = peer;
    }

    /** Connects to a Unix socket at {@code path}. */
    public static StreamSocket connect(Path path, Duration timeout) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            return connect(SocketAddress.AF_UNIX, SocketAddress.of(arena, path), SocketAddress.SIZE, path.toString(), timeout);
        }
    }

    /** Connects over TCP, with Nagle off: requests are small and latency counts. */
    public static StreamSocket connect(InetAddress address, int port, Duration timeout) throws NativeException {
        String peer = (address instanceof Inet6Address ? "[" + address.getHostAddress() + "]" : address.getHostAddress()) + ":" + port;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment addr = SocketAddress.of(arena, address, port);
            int family = addr.get(ValueLayout.JAVA_SHORT, 0);
            StreamSocket s = connect(family, addr, (int) addr.byteSize(), peer, timeout);
            try {
                s.setInt(IPPROTO_TCP, TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)");
            } catch (NativeException e) {
                s.close();
                throw e;
            }
            return s;
        }
    }

    private static StreamSocket connect(int family, MemorySegment addr, int size, String peer, Duration timeout)
            throws NativeException {
        int fd = (int) Libc.call("socket", peer, Syscalls.SOCKET, family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        StreamSocket s = new StreamSocket(fd, peer);
        try {
            s.connectWithin(addr, size, timeout);
            s.setBlocking();
            SocketTimeouts.set(s.fd, timeout, peer);
            return s;
        } catch (NativeException e) {
            s.close();
            throw e;
        }
    }

    /**
     * Connects the non-blocking socket and waits for the outcome with poll, up to
     * {@code timeout} in all. A signal during the wait (the JVM sends some) only restarts the wait:
     * a blocking connect would report EINTR for it, with the TCP handshake still going on behind.
     * A Unix listener whose backlog is full reports EAGAIN; that is tried again until the deadline.
     */
    private void connectWithin(MemorySegment addr, int size, Duration timeout) throws NativeException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            int errno = 0;
            try {
                Libc.call("connect", peer, Syscalls.CONNECT, fd, addr, size);
                return;
            } catch (NativeException e) {
                errno = e.errno();
                if (errno != Errno.EINPROGRESS && errno != Errno.EAGAIN && errno != Errno.EINTR) {
                    throw e;
                }
            }
            if (errno != Errno.EAGAIN) {
                awaitWritable(deadline, timeout);
                int error = getInt(SOL_SOCKET, SO_ERROR, "getsockopt(SO_ERROR)");
                if (error != 0) {
                    throw new NativeException("connect", error, peer);
                }
                return;
            }
            if (System.nanoTime() - deadline >= 0) {
                throw timedOut(timeout);
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new NativeException("connect (interrupted)", Errno.EINTR, peer);
            }
        }
    }

    private void awaitWritable(long deadline, Duration timeout) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pollfd = arena.allocate(8, 4);
            MemorySegment wait = arena.allocate(16, 8); // struct timespec
            while (true) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw timedOut(timeout);
                }
                pollfd.set(ValueLayout.JAVA_INT, 0, fd);
                pollfd.set(ValueLayout.JAVA_INT, 4, POLLOUT);
                wait.set(ValueLayout.JAVA_LONG, 0, left / 1_000_000_000);
                wait.set(ValueLayout.JAVA_LONG, 8, left % 1_000_000_000);
                try {
                    if (Libc.call("poll", peer, Syscalls.PPOLL, pollfd, 1L, wait, MemorySegment.NULL, 0L) > 0) {
                        return;
                    }
                } catch (NativeException e) {
                    if (e.errno() != Errno.EINTR) {
                        throw e;
                    }
                }
            }
        }
    }

    private NativeException timedOut(Duration timeout) {
        return new NativeException("connect (timed out after " + timeout + ")", Errno.ETIMEDOUT, peer);
    }

    private void setBlocking() throws NativeException {
        int flags = (int) Libc.call("fcntl(F_GETFL)", peer, Syscalls.FCNTL, fd, F_GETFL, 0);
        Libc.call("fcntl(F_SETFL)", peer, Syscalls.FCNTL, fd, F_SETFL, flags & ~SOCK_NONBLOCK);
    }

    private int getInt(int level, int option, String what) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment length = arena.allocateFrom(ValueLayout.JAVA_INT, 4);
            Libc.call(what, peer, Syscalls.GETSOCKOPT, fd, level, option, value, length);
            return value.get(ValueLayout.JAVA_INT, 0);
        }
    }

    private void setInt(int level, int option, int value, String what) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            Libc.call(what, peer, Syscalls.SETSOCKOPT, fd, level, option, arena.allocateFrom(ValueLayout.JAVA_INT, value), 4);
        }
    }

    public int fd() {
        return fd;
    }

    /** The peer as given at connect, for messages. */
    public String peer() {
        return peer;
    }

    /** Reads exactly {@code length} bytes; end of stream or the timeout first is an error. */
    public void readFully(MemorySegment buf, long length) throws IOException {
        checkBuffer(buf, length);
        long done = 0;
        while (done < length) {
            long n = retrying("read", Syscalls.READ, buf.asSlice(done), length - done, 0);
            if (n == 0) {
                throw new EOFException(peer + " closed the connection");
            }
            done += n;
        }
    }

    /** Writes all {@code length} bytes; the timeout first is an error. */
    public void writeFully(MemorySegment buf, long length) throws IOException {
        checkBuffer(buf, length);
        long done = 0;
        while (done < length) {
            done += retrying("send", Syscalls.SENDTO, buf.asSlice(done), length - done, MSG_NOSIGNAL);
        }
    }

    /** read(fd, buf, length) or sendto(fd, buf, length, flags, NULL, 0): read ignores the flags. */
    private long retrying(String call, long nr, MemorySegment buf, long length, int flags)
            throws NativeException {
        while (true) {
            try {
                return Libc.call(call, peer, nr, fd, buf, length, flags, MemorySegment.NULL, 0);
            } catch (NativeException e) {
                if (e.errno() == Errno.EAGAIN) {
                    throw new NativeException(call + " (timed out)", Errno.ETIMEDOUT, peer);
                }
                if (e.errno() != Errno.EINTR) {
                    throw e;
                }
            }
        }
    }

    /**
     * Sends {@code length} bytes only if the socket takes them all now, without waiting: a
     * courtesy message (a disconnect notice) that must never hold up a queue thread.
     */
    public boolean sendNow(MemorySegment buf, long length) {
        checkBuffer(buf, length);
        try {
            return Libc.call("send", peer, Syscalls.SENDTO, fd, buf, length, MSG_DONTWAIT | MSG_NOSIGNAL, MemorySegment.NULL, 0) == length;
        } catch (NativeException e) {
            return false;
        }
    }

    private static void checkBuffer(MemorySegment buf, long length) {
        if (!buf.isNative() || length < 0 || length > buf.byteSize()) {
            throw new IllegalArgumentException("buffer of " + buf.byteSize() + " bytes for " + length + " bytes");
        }
    }

    /** Ends both directions: operations waiting on the socket (a ring's receive) complete now. */
    public void shutdown() {
        try {
            Libc.call("shutdown", peer, Syscalls.SHUTDOWN, fd, SHUT_RDWR);
        } catch (NativeException ignored) {
            // already disconnected
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Fds.closeQuietly(fd);
        }
    }
}
