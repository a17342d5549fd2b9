package dev.vublk.control;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * A listening Unix socket at a path that only the owner can connect to from its first moment.
 * Java cannot set the umask, and a socket bound in place would be reachable under the umask's
 * mode until a chmod; so the socket is bound inside a fresh directory of mode 0700 beside the
 * path, set to 0600 there, and renamed into place, which also replaces a stale socket in one step.
 */
final class PrivateSocket {
    private static final int S_IFMT = 0xF000, S_IFSOCK = 0xC000;
    private static final SecureRandom RANDOM = new SecureRandom();

    private PrivateSocket() {}

    /**
     * Binds and listens at {@code path}.
     *
     * @throws FileAlreadyExistsException when the path holds anything but a socket, or a socket
     *         another process still listens on
     */
    static ServerSocketChannel listen(Path path, int backlog) throws IOException {
        Path target = path.toAbsolutePath();
        refuseUnlessStaleSocket(target);
        Path dir = privateDirectoryBeside(target);
        Path bound = dir.resolve("s");
        ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            channel.bind(UnixDomainSocketAddress.of(bound), backlog);
            Files.setPosixFilePermissions(bound, PosixFilePermissions.fromString("rw-------"));
            Files.move(bound, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            channel.close();
            Files.deleteIfExists(bound);
            throw e;
        } finally {
            Files.deleteIfExists(dir);
        }
        return channel;
    }

    /** The identity of the file at {@code path} now (its inode), to recognise our socket later. */
    static Object fileKey(Path path) throws IOException {
        return Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
    }

    private static void refuseUnlessStaleSocket(Path target) throws IOException {
        if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        int mode = (Integer) Files.getAttribute(target, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        if ((mode & S_IFMT) != S_IFSOCK) {
            throw new FileAlreadyExistsException(target.toString(), null, "exists and is not a socket; not replacing it");
        }
        try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(target))) {
            throw new FileAlreadyExistsException(target.toString(), null, "another process is listening on this socket");
        } catch (FileAlreadyExistsException e) {
            throw e;
        } catch (IOException refused) {
            // nobody listens: the socket was left behind by a process that ended, and is replaced
        }
    }

    /** A new directory of mode 0700 in the target's directory, under a short name (socket paths are limited to 107 bytes). */
    private static Path privateDirectoryBeside(Path target) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path dir = target.resolveSibling(".qmp-" + HexFormat.of().toHexDigits(RANDOM.nextInt()));
            try {
                Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
                return dir;
            } catch (FileAlreadyExistsException e) {
                if (attempt == 10) {
                    throw e;
                }
            }
        }
    }
}
