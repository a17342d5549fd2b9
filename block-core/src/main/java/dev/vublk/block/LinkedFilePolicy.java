package dev.vublk.block;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Which files an image may make the backend open: its backing file, a qcow2 external data file, a
 * VHDX parent. An image's content is not trusted (a guest may have written it), so whatever it
 * names is opened only if it is a regular file, and only where this policy allows.
 *
 * @param refuseAll   an image naming any such file fails to open
 * @param allowedDirs when not empty, the file's real path (symbolic links followed) must lie
 *                    under one of these directories, themselves given as real paths
 */
public record LinkedFilePolicy(boolean refuseAll, List<Path> allowedDirs) {
    /** Any regular file the image names (the default, as QEMU does). */
    public static final LinkedFilePolicy ANY = new LinkedFilePolicy(false, List.of());

    /** Images may name no other file at all. */
    public static final LinkedFilePolicy NONE = new LinkedFilePolicy(true, List.of());

    public LinkedFilePolicy {
        allowedDirs = List.copyOf(allowedDirs);
    }

    /** Confines named files to {@code dirs}, each resolved to its real path now; each must be a directory. */
    public static LinkedFilePolicy confinedTo(List<Path> dirs) throws IOException {
        List<Path> real = new ArrayList<>();
        for (Path d : dirs) {
            Path r;
            try {
                r = d.toRealPath();
            } catch (NoSuchFileException e) {
                throw new NoSuchFileException(d.toString(), null, "no such directory");
            }
            if (!Files.isDirectory(r)) {
                throw new IOException(d + " is not a directory");
            }
            real.add(r);
        }
        return new LinkedFilePolicy(false, real);
    }

    /** Whether a real (symlink-free, absolute) path may be opened. */
    boolean allows(Path realPath) {
        if (refuseAll) {
            return false;
        }
        if (allowedDirs.isEmpty()) {
            return true;
        }
        for (Path dir : allowedDirs) {
            if (realPath.startsWith(dir)) { // by whole names: /a/b does not start with /a/bc
                return true;
            }
        }
        return false;
    }

    /** Why {@link #allows} said no, for the error message. */
    String refusal() {
        return refuseAll ? "images may not name other files (untrusted image)"
                : "it lies outside the allowed directories " + allowedDirs;
    }
}
