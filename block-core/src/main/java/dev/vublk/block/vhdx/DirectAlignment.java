package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * What O_DIRECT on one file accepts, found by trying: the smallest unit of memory address, file
 * offset and length the kernel takes for it (512 on most disks, 4096 on 4Kn ones). Asking the
 * file system (statx DIOALIGN) would need a kernel call the uring module does not offer; a read of
 * the header section answers the same question on every kernel.
 */
final class DirectAlignment {
    private static final int[] CANDIDATES = {512, 1024, 2048, 4096};

    private DirectAlignment() {}

    /** @param direct the image opened with O_DIRECT; its first MiB (the header section) is read */
    static int probe(NativeFile direct, Path path) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment page = arena.allocate(3 * 4096, 4096);
            for (int a : CANDIDATES) {
                try {
                    // Misaligned for anything coarser than a: address, offset and length are all a.
                    direct.read(page.asSlice(a, a), a);
                    return a;
                } catch (NativeException e) {
                    // EINVAL: too fine for this file; try the next
                }
            }
        }
        throw new ImageException(path, "O_DIRECT reads fail at every alignment up to 4096 bytes; open without direct I/O");
    }
}
