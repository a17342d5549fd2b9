package dev.vublk.uring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A shared mapping of a file descriptor. The segment belongs to a shared arena, so after
 * {@link #close()} any Java access from any thread fails cleanly instead of touching unmapped
 * memory; the munmap runs once the arena is closed.
 */
public final class MappedRegion implements AutoCloseable {
    private static final int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;

    private final Arena arena;
    private final MemorySegment segment;

    private MappedRegion(Arena arena, MemorySegment segment) {
        this.arena = arena;
        this.segment = segment;
    }

    /** Maps {@code length} bytes of {@code fd} from {@code offset}, MAP_SHARED. */
    public static MappedRegion map(int fd, long offset, long length, boolean writable) throws NativeException {
        if (length <= 0) {
            throw new NativeException("mmap", Errno.EINVAL);
        }
        int prot = PROT_READ | (writable ? PROT_WRITE : 0);
        // Libc.call turns MAP_FAILED ((void *) -1) into the exception.
        long address = Libc.call("mmap", null, Syscalls.MMAP, MemorySegment.NULL, length, prot, MAP_SHARED, fd, offset);
        Arena arena = Arena.ofShared();
        MemorySegment segment = MemorySegment.ofAddress(address).reinterpret(length, arena, s -> unmap(s, length));
        return new MappedRegion(arena, segment);
    }

    private static void unmap(MemorySegment s, long length) {
        try {
            Libc.call("munmap", null, Syscalls.MUNMAP, s, length);
        } catch (NativeException e) {
            // nothing can be done about a failed munmap but to leave the mapping in place
        }
    }

    public MemorySegment segment() {
        return segment;
    }

    public long address() {
        return segment.address();
    }

    public long length() {
        return segment.byteSize();
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
