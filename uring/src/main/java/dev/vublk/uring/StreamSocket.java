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
 * {@link #readFully}, {@link #writeFully}) are bounded by the timeout given at connect
 * (SO_SNDTIMEO bounds connect too), so a silent peer costs at most that long; the data path then
 * runs on an {@link IoUring} with {@link #fd()}.
 */
public final class StreamSocket implements AutoCloseable {
    private static final int SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, SHUT_RDWR = 2;
    private static final int SOL_SOCKET = 1, SO_RCVTIMEO = 20, SO_SNDTIMEO = 21, IPPROTO_TCP = 6, TCP_NODELAY = 1;
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
        int fd = (int) Libc.call("socket", peer, Libc.SOCKET, family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        StreamSocket s = new StreamSocket(fd, peer);
        try {
            s.setTimeout(timeout);
            Libc.call("connect", peer, Libc.CONNECT, fd, addr, size);
            return s;
        } catch (NativeException e) {
            s.close();
            // A connect cut short by SO_SNDTIMEO reports EINPROGRESS: name it for what it is.
            throw e.errno() == Errno.EINPROGRESS ? new NativeException("connect (timed out after " + timeout + ")",
                    Errno.ETIMEDOUT, peer) : e;
        }
    }

    private void setTimeout(Duration timeout) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment tv = arena.allocate(16, 8);
            tv.set(ValueLayout.JAVA_LONG, 0, timeout.toSeconds());
            tv.set(ValueLayout.JAVA_LONG, 8, timeout.toNanosPart() / 1000);
            Libc.call("setsockopt(SO_RCVTIMEO)", peer, Libc.SETSOCKOPT, fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
            Libc.call("setsockopt(SO_SNDTIMEO)", peer, Libc.SETSOCKOPT, fd, SOL_SOCKET, SO_SNDTIMEO, tv, 16);
        }
    }

    private void setInt(int level, int option, int value, String what) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            Libc.call(what, peer, Libc.SETSOCKOPT, fd, level, option, arena.allocateFrom(ValueLayout.JAVA_INT, value), 4);
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
            long n = retrying("read", Libc.READ, buf.asSlice(done), length - done, 0);
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
            done += retrying("send", Libc.SEND, buf.asSlice(done), length - done, MSG_NOSIGNAL);
        }
    }

    private long retrying(String call, java.lang.invoke.MethodHandle handle, MemorySegment buf, long length, int flags)
            throws NativeException {
        while (true) {
            try {
                return handle == Libc.READ
                        ? Libc.call(call, peer, handle, fd, buf, length)
                        : Libc.call(call, peer, handle, fd, buf, length, flags);
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
            return Libc.call("send", peer, Libc.SEND, fd, buf, length, MSG_DONTWAIT | MSG_NOSIGNAL) == length;
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
            Libc.call("shutdown", peer, Libc.SHUTDOWN, fd, SHUT_RDWR);
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
