package dev.vublk.uring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** {@code struct sockaddr_un} for a filesystem path, {@code sockaddr_in}/{@code sockaddr_in6} for an IP address. */
final class SocketAddress {
    static final int AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10;
    static final int SIZE = 110;
    static final int IN_SIZE = 16, IN6_SIZE = 28;
    static final int PATH_MAX = 108;

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

    /** The address and port in network byte order; an IPv6 address keeps its scope id. */
    static MemorySegment of(Arena arena, InetAddress address, int port) {
        if (port < 0 || port > 0xffff) {
            throw new IllegalArgumentException("port " + port);
        }
        byte[] ip = address.getAddress();
        boolean v6 = address instanceof Inet6Address;
        MemorySegment addr = arena.allocate(v6 ? IN6_SIZE : IN_SIZE, 4);
        addr.set(ValueLayout.JAVA_SHORT, 0, (short) (v6 ? AF_INET6 : AF_INET));
        addr.set(ValueLayout.JAVA_BYTE, 2, (byte) (port >> 8));
        addr.set(ValueLayout.JAVA_BYTE, 3, (byte) port);
        if (v6) {
            MemorySegment.copy(ip, 0, addr, ValueLayout.JAVA_BYTE, 8, 16);
            addr.set(ValueLayout.JAVA_INT, 24, ((Inet6Address) address).getScopeId());
        } else if (address instanceof Inet4Address) {
            MemorySegment.copy(ip, 0, addr, ValueLayout.JAVA_BYTE, 4, 4);
        }
        return addr;
    }
}
