package dev.vublk.tests.frontend;

import dev.vublk.uring.UnixListener;
import dev.vublk.uring.UnixSocket;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Two connected Unix stream sockets (the backend request channel of SET_BACKEND_REQ_FD). */
public record SocketPair(UnixSocket ours, UnixSocket theirs) implements AutoCloseable {
    public static SocketPair create() throws IOException {
        Path dir = Files.createTempDirectory("vublk-pair");
        Path path = dir.resolve("s");
        try (UnixListener l = UnixListener.listen(path, 1)) {
            UnixSocket a = UnixSocket.connect(path);
            return new SocketPair(a, l.accept());
        } finally {
            Files.deleteIfExists(path);
            Files.deleteIfExists(dir);
        }
    }

    @Override
    public void close() {
        ours.close();
        theirs.close();
    }
}
