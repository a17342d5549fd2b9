package dev.vublk.uring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** {@code struct sockaddr_un} for a filesystem path. */
final class SocketAddress {
    static final int AF_UNIX = 1;
    static final int SIZE = 110;
    private static final int PATH_MAX = 108;

    private SocketAddress() {}

    static MemorySegment of(Arena arena, Path path) throws NativeException {
        byte[] bytes = path.toString().getBytes(StandardCharsets.UTF_8);
        if (bytes.length >= PATH_MAX) {
            throw new NativeException("socket path", Errno.ENAMETOOLONG, path.toString());
        }
        MemorySegment addr = arena.allocate(SIZE, 2);
        addr.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
        MemorySegment.copy(bytes, 0, addr, ValueLayout.JAVA_BYTE, 2, bytes.length);
        return addr;
    }
}
