package dev.vublk.tests.e2e;

import dev.vublk.tests.vm.HostImages;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A tmpfs of a few MiB, so a test can run a file system out of space for real: a filler file
 * takes all but what the test leaves free, and deleting it gives the space back. Mounted on an
 * empty directory when this process may mount (the tests run as root); otherwise inside a user
 * and mount namespace of its own ({@code unshare -rm}) held open by a sleeping process, and
 * reached through that process's {@code /proc/PID/root}, so the backend, qemu-img and the test
 * all see the same files. Unmounted (or the namespace ended) on {@link #close()} whatever the
 * test's outcome.
 */
final class SmallTmpfs implements AutoCloseable {
    /** Set to {@code unshare} to take the namespace path even where mounting works (to test it). */
    static final String MODE_PROPERTY = "vublk.tmpfs";

    private final Path dir;
    private final Path filler;
    /** The process holding the namespace, or null when mounted here. */
    private final Process holder;

    private SmallTmpfs(Path dir, Process holder) {
        this.dir = dir;
        this.filler = dir.resolve("filler");
        this.holder = holder;
    }

    /** A tmpfs of {@code bytes}: on {@code dir} (made if missing), or where the namespace shows it. */
    static SmallTmpfs mount(Path dir, long bytes) throws IOException {
        Files.createDirectories(dir);
        String options = "size=" + bytes + ",mode=0700";
        if (!"unshare".equals(System.getProperty(MODE_PROPERTY)) && mountHere(dir, options)) {
            return new SmallTmpfs(dir, null);
        }
        return inNamespace(dir, options);
    }

    private static boolean mountHere(Path dir, String options) {
        try {
            return HostImages.exec(List.of("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir.toString())).exitCode() == 0;
        } catch (IOException e) {
            return false; // no mount command: the namespace's is tried next
        }
    }

    private static SmallTmpfs inNamespace(Path dir, String options) throws IOException {
        Process p = new ProcessBuilder("unshare", "-rm", "sh", "-c",
                "mount -t tmpfs -o " + options + " tmpfs \"$1\" && echo mounted && exec sleep 86400", "sh", dir.toString())
                .redirectErrorStream(true).start();
        String line = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream())).readLine();
        if (!"mounted".equals(line)) {
            p.destroyForcibly();
            throw new IOException("cannot mount a tmpfs, neither here nor in a user and mount namespace (unshare -rm): " + line);
        }
        return new SmallTmpfs(Path.of("/proc", Long.toString(p.pid()), "root").resolve(dir.toString().substring(1)), p);
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
        if (holder == null) {
            HostImages.run(List.of("umount", "-l", dir.toString()));
            return;
        }
        holder.destroyForcibly(); // the namespace, and its tmpfs, end with their last process
        try {
            holder.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
