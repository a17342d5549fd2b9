package dev.vublk.block.storage.nbd;

import dev.vublk.block.storage.StorageDriver;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the NBD tests set up, as their base class: a directory of the test's own, the server,
 * a volume on it and a driver for one of the volume's queues. Whatever of these a test opened
 * is closed after it, in the order a backend closes them (queue, volume, server), even when the
 * test failed halfway.
 */
abstract class NbdFixture {
    @TempDir
    Path dir;
    NbdServer server;
    NbdVolume volume;
    StorageDriver driver;

    /** A raw image of {@code size} zero bytes in the test's directory, for qemu-nbd to serve. */
    Path rawFile(long size) throws IOException {
        Path file = dir.resolve("disk.raw");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
        }
        return file;
    }

    /** Keeps {@code s} as the test's server, opens a volume on it that waits {@code delay} for reconnects, and a queue. */
    void open(NbdServer s, Duration delay) throws IOException {
        server = s;
        volume = NbdVolume.open(s.uri(), false, delay);
        driver = new StorageDriver(volume);
    }

    /** Closes what is open; a test calls it early to look at what the server left behind. */
    @AfterEach
    void closeAll() throws IOException {
        // Closed in reverse order, null ones skipped; when one close fails, the others still run.
        try (NbdServer s = server; NbdVolume v = volume; StorageDriver d = driver) {
            driver = null;
            volume = null;
            server = null;
        }
    }
}
