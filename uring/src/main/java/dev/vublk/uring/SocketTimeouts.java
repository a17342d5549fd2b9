package dev.vublk.uring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;

/** SO_RCVTIMEO and SO_SNDTIMEO: a blocking socket call then fails with EAGAIN after the timeout. */
final class SocketTimeouts {
    private static final int SOL_SOCKET = 1, SO_RCVTIMEO = 20, SO_SNDTIMEO = 21;

    private SocketTimeouts() {}

    /** Sets both timeouts of {@code fd}; {@code name} names the socket in errors. */
    static void set(int fd, Duration timeout, String name) throws NativeException {
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("socket timeout " + timeout + " (zero would mean none)");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment tv = arena.allocate(16, 8);
            tv.set(ValueLayout.JAVA_LONG, 0, timeout.toSeconds());
            tv.set(ValueLayout.JAVA_LONG, 8, timeout.toNanosPart() / 1000);
            Libc.call("setsockopt(SO_RCVTIMEO)", name, Syscalls.SETSOCKOPT, fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
            Libc.call("setsockopt(SO_SNDTIMEO)", name, Syscalls.SETSOCKOPT, fd, SOL_SOCKET, SO_SNDTIMEO, tv, 16);
        }
    }
}
