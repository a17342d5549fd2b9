package dev.vublk.uring;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/**
 * A connected Unix stream socket that can pass descriptors (SCM_RIGHTS): the vhost-user
 * channel. Received descriptors arrive close-on-exec; on any error they are closed before the
 * exception leaves.
 */
public final class UnixSocket implements AutoCloseable {
    /** The most descriptors one message may carry; vhost-user sends at most 8. */
    public static final int MAX_FDS = 32;
    private static final int SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, SHUT_WR = 1, SHUT_RDWR = 2;
    private static final int SOL_SOCKET = 1, SCM_RIGHTS = 1;
    private static final int MSG_CTRUNC = 0x8, MSG_NOSIGNAL = 0x4000, MSG_CMSG_CLOEXEC = 0x40000000;
    private static final long MSGHDR_SIZE = 56, IOVEC_SIZE = 16, CMSG_HEADER = 16;

    private final int fd;
    private volatile boolean closed;

    private UnixSocket(int fd) {
        this.fd = fd;
    }

    /** Takes ownership of a connected socket descriptor. */
    public static UnixSocket adopt(int fd) {
        return new UnixSocket(fd);
    }

    public static UnixSocket connect(Path path) throws IOException {
        int fd = (int) Libc.call("socket", path.toString(), Syscalls.SOCKET, SocketAddress.AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            Libc.call("connect", path.toString(), Syscalls.CONNECT, fd, SocketAddress.of(arena, path), SocketAddress.SIZE);
            return new UnixSocket(fd);
        } catch (IOException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
    }

    /** Two connected sockets (socketpair): both ends of a channel inside one process, for tests. */
    public static UnixSocket[] pair() throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(ValueLayout.JAVA_INT, 2);
            Libc.call("socketpair", null, Syscalls.SOCKETPAIR, SocketAddress.AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
            return new UnixSocket[] {new UnixSocket(fds.getAtIndex(ValueLayout.JAVA_INT, 0)),
                new UnixSocket(fds.getAtIndex(ValueLayout.JAVA_INT, 1))};
        }
    }

    public int fd() {
        return fd;
    }

    /** The kernel gets a raw address: a heap segment or a length past the end would corrupt memory. */
    private static void checkBuffer(MemorySegment buf, long length) {
        if (!buf.isNative() || length < 0 || length > buf.byteSize()) {
            throw new IllegalArgumentException("buffer of " + buf.byteSize() + " bytes"
                    + (buf.isNative() ? "" : " (not native)") + " for " + length + " bytes");
        }
    }

    private static long cmsgSpace(int fds) {
        return CMSG_HEADER + ((fds * 4L + 7) & ~7L);
    }

    /**
     * Receives up to {@code length} bytes into {@code buf} (a native segment) with at most
     * {@code maxFds} descriptors. A message that carried more descriptors than that (MSG_CTRUNC)
     * is an error, and whatever did arrive is closed.
     */
    public ReceivedMessage receive(MemorySegment buf, long length, int maxFds) throws NativeException {
        if (maxFds < 0 || maxFds > MAX_FDS) {
            throw new IllegalArgumentException("maxFds " + maxFds);
        }
        checkBuffer(buf, length);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment iov = arena.allocate(IOVEC_SIZE, 8);
            iov.set(ValueLayout.JAVA_LONG, 0, buf.address());
            iov.set(ValueLayout.JAVA_LONG, 8, length);
            long controlLen = cmsgSpace(Math.max(1, maxFds));
            MemorySegment control = arena.allocate(controlLen, 8);
            MemorySegment msg = arena.allocate(MSGHDR_SIZE, 8);
            msg.set(ValueLayout.JAVA_LONG, 16, iov.address());
            msg.set(ValueLayout.JAVA_LONG, 24, 1);
            msg.set(ValueLayout.JAVA_LONG, 32, control.address());
            msg.set(ValueLayout.JAVA_LONG, 40, controlLen);
            long n;
            while (true) {
                try {
                    n = Libc.call("recvmsg", null, Syscalls.RECVMSG, fd, msg, MSG_CMSG_CLOEXEC);
                    break;
                } catch (NativeException e) {
                    if (e.errno() != Errno.EINTR) {
                        throw e;
                    }
                }
            }
            int[] fds = collectFds(control, msg.get(ValueLayout.JAVA_LONG, 40));
            if ((msg.get(ValueLayout.JAVA_INT, 48) & MSG_CTRUNC) != 0) {
                Fds.closeAllQuietly(fds);
                throw new NativeException("recvmsg (descriptors truncated: more than " + maxFds + " sent)", Errno.E2BIG);
            }
            if (fds.length > maxFds) {
                Fds.closeAllQuietly(fds);
                throw new NativeException("recvmsg (more than " + maxFds + " descriptors)", Errno.E2BIG);
            }
            return new ReceivedMessage((int) n, fds);
        }
    }

    private static int[] collectFds(MemorySegment control, long controlLen) {
        int[] out = ReceivedMessage.NO_FDS;
        long pos = 0;
        while (pos + CMSG_HEADER <= controlLen) {
            long len = control.get(ValueLayout.JAVA_LONG, pos);
            int level = control.get(ValueLayout.JAVA_INT, pos + 8);
            int type = control.get(ValueLayout.JAVA_INT, pos + 12);
            if (len < CMSG_HEADER || pos + len > controlLen) {
                break;
            }
            if (level == SOL_SOCKET && type == SCM_RIGHTS) {
                int count = (int) ((len - CMSG_HEADER) / 4);
                int[] merged = java.util.Arrays.copyOf(out, out.length + count);
                for (int i = 0; i < count; i++) {
                    merged[out.length + i] = control.get(ValueLayout.JAVA_INT, pos + CMSG_HEADER + 4L * i);
                }
                out = merged;
            }
            pos += (len + 7) & ~7L;
        }
        return out;
    }

    /** Reads exactly {@code length} bytes with no descriptors; end of stream first is an error. */
    public void receiveFully(MemorySegment buf, long length) throws IOException {
        long done = 0;
        while (done < length) {
            ReceivedMessage m = receive(buf.asSlice(done), length - done, 0);
            if (m.bytes() == 0) {
                throw new EOFException("peer closed the connection");
            }
            done += m.bytes();
        }
    }

    /** Sends all of {@code length} bytes of {@code buf}, the descriptors with the first byte. */
    public void send(MemorySegment buf, long length, int... fds) throws NativeException {
        if (fds.length > MAX_FDS) {
            throw new IllegalArgumentException("too many descriptors: " + fds.length);
        }
        checkBuffer(buf, length);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment iov = arena.allocate(IOVEC_SIZE, 8);
            MemorySegment msg = arena.allocate(MSGHDR_SIZE, 8);
            if (fds.length > 0) {
                long controlLen = cmsgSpace(fds.length);
                MemorySegment control = arena.allocate(controlLen, 8);
                control.set(ValueLayout.JAVA_LONG, 0, CMSG_HEADER + fds.length * 4L);
                control.set(ValueLayout.JAVA_INT, 8, SOL_SOCKET);
                control.set(ValueLayout.JAVA_INT, 12, SCM_RIGHTS);
                for (int i = 0; i < fds.length; i++) {
                    control.set(ValueLayout.JAVA_INT, CMSG_HEADER + 4L * i, fds[i]);
                }
                msg.set(ValueLayout.JAVA_LONG, 32, control.address());
                msg.set(ValueLayout.JAVA_LONG, 40, controlLen);
            }
            msg.set(ValueLayout.JAVA_LONG, 16, iov.address());
            msg.set(ValueLayout.JAVA_LONG, 24, 1);
            long done = 0;
            while (done < length) {
                iov.set(ValueLayout.JAVA_LONG, 0, buf.address() + done);
                iov.set(ValueLayout.JAVA_LONG, 8, length - done);
                try {
                    done += Libc.call("sendmsg", null, Syscalls.SENDMSG, fd, msg, MSG_NOSIGNAL);
                } catch (NativeException e) {
                    if (e.errno() != Errno.EINTR) {
                        throw e;
                    }
                    continue;
                }
                msg.set(ValueLayout.JAVA_LONG, 32, 0L); // descriptors go with the first chunk only
                msg.set(ValueLayout.JAVA_LONG, 40, 0L);
            }
        }
    }

    /**
     * Bounds every later blocking send and receive: past {@code timeout} they fail with EAGAIN
     * instead of waiting on a peer that stopped reading or never answers.
     */
    public void setTimeouts(java.time.Duration timeout) throws NativeException {
        SocketTimeouts.set(fd, timeout, "unix socket fd " + fd);
    }

    /** Wakes a thread blocked in {@link #receive} without closing the descriptor yet. */
    public void shutdown() {
        try {
            Libc.call("shutdown", null, Syscalls.SHUTDOWN, fd, SHUT_RDWR);
        } catch (NativeException ignored) {
            // already disconnected
        }
    }

    /** Ends this side's sending (SHUT_WR): the peer reads end of stream after what was sent. */
    public void shutdownOutput() throws NativeException {
        Libc.call("shutdown", null, Syscalls.SHUTDOWN, fd, SHUT_WR);
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Fds.closeQuietly(fd);
        }
    }
}
