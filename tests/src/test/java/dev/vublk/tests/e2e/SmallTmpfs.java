package dev.vublk.tests.e2e;

import dev.vublk.tests.vm.HostImages;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A tmpfs of a few MiB mounted on an empty directory, so a test can run a file system out of
 * space for real: a filler file takes all but what the test leaves free, and deleting it gives
 * the space back. Unmounted on {@link #close()} whatever the test's outcome (lazily, should a
 * process still hold a file there).
 */
final class SmallTmpfs implements AutoCloseable {
    private final Path dir;
    private final Path filler;

    private SmallTmpfs(Path dir) {
        this.dir = dir;
        this.filler = dir.resolve("filler");
    }

    /** Mounts a tmpfs of {@code bytes} on {@code dir} (made if missing); the tests run as root. */
    static SmallTmpfs mount(Path dir, long bytes) throws IOException {
        Files.createDirectories(dir);
        HostImages.run(List.of("mount", "-t", "tmpfs", "-o", "size=" + bytes + ",mode=0700", "tmpfs", dir.toString()));
        return new SmallTmpfs(dir);
    }

    Path dir() {
        return dir;
    }

    /** Bytes still free for a writer. */
    long free() throws IOException {
        return Files.getFileStore(dir).getUsableSpace();
    }

    /** Writes a filler file so only {@code leave} bytes (rounded to pages) stay free. */
    void fillLeaving(long leave) throws IOException {
        long take = free() - leave;
        if (take <= 0) {
            throw new IOException("only " + free() + " bytes free on " + dir + ", less than the " + leave + " to leave");
        }
        byte[] block = new byte[64 << 10];
        java.util.Arrays.fill(block, (byte) 0x5a); // not zeros: every page is really allocated
        try (OutputStream out = Files.newOutputStream(filler)) {
            for (long left = take; left > 0; left -= block.length) {
                out.write(block, 0, (int) Math.min(block.length, left));
            }
        }
    }

    /** Deletes the filler: its space is free again. */
    void freeFiller() throws IOException {
        Files.delete(filler);
    }

    @Override
    public void close() throws IOException {
        HostImages.run(List.of("umount", "-l", dir.toString()));
    }
}
