package dev.vublk.block;

import dev.vublk.uring.Errno;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * What O_DIRECT on one file accepts, found by trying: the smallest unit of memory address, file
 * offset and length the kernel takes for it (512 on most disks, 4096 on 4Kn ones). Asking the
 * file system (statx DIOALIGN) would need a kernel call the uring module does not offer; a read
 * answers the same question on every kernel, and the kernel checks alignment before the end of
 * the file, so any file size works. Shared by the formats that offer direct I/O.
 */
public final class DirectAlignment {
    private static final int[] CANDIDATES = {512, 1024, 2048, 4096};

    private DirectAlignment() {}

    /**
     * @param direct the file opened with O_DIRECT
     * @param path   the image named in the error
     */
    public static int probe(NativeFile direct, Path path) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment page = arena.allocate(3 * 4096, 4096);
            for (int a : CANDIDATES) {
                try {
                    // Misaligned for anything coarser than a: address, offset and length are all a.
                    direct.read(page.asSlice(a, a), a);
                    return a;
                } catch (NativeException e) {
                    if (e.errno() != Errno.EINVAL) {
                        throw new ImageException(path, "O_DIRECT read failed: " + e.getMessage(), e);
                    }
                }
            }
        }
        throw new ImageException(path, "O_DIRECT reads fail at every alignment up to 4096 bytes; open without direct I/O");
    }
}
