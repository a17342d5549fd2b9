package dev.vublk.block;

import dev.vublk.uring.Errno;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The alignment O_DIRECT transfers on a file need, found by trying: a 512-byte read at a
 * 512-aligned (but not 4096-aligned) offset into a buffer aligned the same way either works, or
 * the kernel refuses it with EINVAL and the file needs 4096. The kernel checks alignment before
 * the end of the file, so any file size works.
 */
public final class DirectAlignment {
    private DirectAlignment() {}

    /** 512 or 4096; throws when even 4096-aligned O_DIRECT reads fail. */
    public static int probe(NativeFile direct) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment page = arena.allocate(3 * 4096, 4096);
            if (works(direct, page.asSlice(512, 512), 512)) {
                return 512;
            }
            if (works(direct, page.asSlice(4096, 4096), 4096)) {
                return 4096;
            }
        }
        throw new IOException(direct.path() + ": O_DIRECT reads fail even with 4096-byte alignment");
    }

    private static boolean works(NativeFile direct, MemorySegment buffer, long offset) throws NativeException {
        try {
            direct.read(buffer, offset);
            return true;
        } catch (NativeException e) {
            if (e.errno() == Errno.EINVAL) {
                return false;
            }
            throw e;
        }
    }
}
