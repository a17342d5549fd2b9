package dev.vublk.uring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** An eventfd counter: kicks, calls and wake-ups between threads. */
public final class EventFd implements AutoCloseable {
    public static final int EFD_NONBLOCK = 0x800;
    private static final int EFD_CLOEXEC = 0x80000;
    /** What /proc/self/fd shows for an eventfd. */
    private static final String EVENTFD_KIND = "anon_inode:[eventfd]";

    private static final ThreadLocal<MemorySegment> SCRATCH =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(ValueLayout.JAVA_LONG));

    private final int fd;
    private volatile boolean closed;

    private EventFd(int fd) {
        this.fd = fd;
    }

    public static EventFd create() throws NativeException {
        return create(0);
    }

    public static EventFd create(int flags) throws NativeException {
        return new EventFd((int) Libc.call("eventfd", null, Syscalls.EVENTFD2, 0, flags | EFD_CLOEXEC));
    }

    /**
     * Takes ownership of an eventfd received from a peer, after {@link #check}: on refusal the
     * descriptor is still the caller's.
     */
    public static EventFd adopt(int fd) throws NativeException {
        check(fd);
        return new EventFd(fd);
    }

    /**
     * Refuses a descriptor that is not an eventfd. A pipe, regular file or socket given where an
     * eventfd belongs would block its reader or writer (8-byte counter semantics are assumed),
     * so whatever a peer sends as a kick, call or error descriptor goes through this first.
     */
    public static void check(int fd) throws NativeException {
        String kind = Fds.describe(fd);
        if (!EVENTFD_KIND.equals(kind)) {
            throw new NativeException("descriptor " + fd + " is " + kind + ", not an eventfd", Errno.EINVAL);
        }
    }

    public int fd() {
        return fd;
    }

    /** Adds {@code value} to the counter, waking readers. */
    public void write(long value) throws NativeException {
        write(fd, value);
    }

    /** Signals an eventfd that this object does not own. */
    public static void write(int fd, long value) throws NativeException {
        MemorySegment buf = SCRATCH.get(); // queue threads signal once per batch: no arena per call
        buf.set(ValueLayout.JAVA_LONG, 0, value);
        Libc.check(Libc.syscall(Syscalls.WRITE, fd, Libc.address(buf), 8, 0, 0, 0), "write(eventfd)", null);
    }

    /** Reads and resets the counter; blocks while it is zero unless the fd is non-blocking. */
    public long read() throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(ValueLayout.JAVA_LONG);
            Libc.call("read(eventfd)", null, Syscalls.READ, fd, buf, 8L);
            return buf.get(ValueLayout.JAVA_LONG, 0);
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
