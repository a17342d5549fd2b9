package dev.vublk.uring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Setting a ring up and tearing it down: sizes, ownership, registration, closing. */
@ExtendWith(NoFdLeaks.class)
class IoUringLifecycleTest {
    @TempDir
    Path dir;

    private final Completions done = new Completions();

    @Test
    void singleIssuerRingRefusesSubmissionFromAnotherThread() throws Exception {
        try (IoUring owned = new IoUring(8, true)) {
            owned.nop(done, 1);
            CompletableFuture<Integer> other = CompletableFuture.supplyAsync(() -> {
                try {
                    return owned.submit();
                } catch (NativeException e) {
                    return -e.errno();
                }
            });
            assertEquals(-Errno.EEXIST, other.get(5, TimeUnit.SECONDS));
        }
    }

    @Test
    void ringSizesAreReported() throws NativeException {
        try (IoUring r = new IoUring(100)) {
            assertEquals(128, r.submissionEntries(), "the kernel rounds up to a power of two");
            assertEquals(256, r.completionEntries());
            assertEquals(0, r.inFlight());
        }
        assertThrows(IllegalArgumentException.class, () -> new IoUring(0));
        assertThrows(IllegalArgumentException.class, () -> new IoUring(65536));
    }

    @Test
    void closedRingRefusesNewOperations() throws NativeException {
        IoUring r = new IoUring(4);
        r.close();
        r.close();
        NativeException e = assertThrows(NativeException.class, () -> r.nop(done, 1));
        assertEquals(Errno.EBADF, e.errno());
        assertFalse(done.has(1));
    }

    @Test
    void registerFilesAcceptsOpenDescriptors() throws IOException {
        Path p = java.nio.file.Files.write(dir.resolve("reg"), new byte[10]);
        try (NativeFile f = NativeFile.open(p, false, false)) {
            try (IoUring ring = new IoUring(8)) {
                ring.registerFiles(f.fd());
                ring.unregisterFiles();
                NativeException e = assertThrows(NativeException.class, ring::unregisterFiles);
                assertEquals(Errno.ENXIO, e.errno());
            }
        }
    }

    @Test
    void manyRingsOpenAndCloseWithoutLeaking() throws NativeException {
        List<IoUring> rings = new ArrayList<>();
        try {
            for (int i = 0; i < 20; i++) {
                rings.add(new IoUring(32, i % 2 == 0));
            }
        } finally {
            rings.forEach(IoUring::close);
        }
    }
}
