package dev.vublk.block;

import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;

/**
 * The files opened for one image: the image itself, its backing files or VHDX parents (links,
 * whatever their format) and external data files. It is the one place those files are opened, so
 * every format gets the same rules: files an image names are checked against the
 * {@link LinkedFilePolicy}, opened without blocking and kept only if regular; links are counted
 * against {@link ImageOptions#maxChainDepth()}; and no file may appear twice (A backs B backs A,
 * or a data file that is an image of the chain), compared by device and inode of the open
 * descriptor, so neither symlinks nor hard links hide a repeat. Unless locking is off, every file
 * gets the {@link ImageLocks} QEMU takes, on the descriptor returned: the image written or read
 * as opened, every linked file read-only except a writable image's external data file.
 */
public final class ImageChain {
    private final LinkedFilePolicy policy;
    private final int maxDepth;
    private final boolean locking;
    private final List<Object> identities = new ArrayList<>();
    private final List<Path> paths = new ArrayList<>();
    private int links;

    public ImageChain(ImageOptions options) {
        this.policy = options.linkedFiles();
        this.maxDepth = options.maxChainDepth();
        this.locking = options.locking();
    }

    /**
     * Opens the image the operator named; no policy applies (it may be a block device). With
     * {@code direct} the one descriptor is O_DIRECT (RAW moves its data through it).
     */
    public NativeFile openTop(Path path, boolean writable, boolean direct) throws IOException {
        NativeFile file;
        try {
            file = NativeFile.open(path, writable, direct);
        } catch (NativeException e) {
            throw new ImageException(path, "cannot open: " + e.getMessage(), e);
        }
        return lock(record(path, file), null, null);
    }

    /**
     * Opens the next link below {@code image} (a backing file or VHDX parent), read-only.
     *
     * @param role   what the file is to {@code image}, for messages ("backing file", "parent")
     * @param target the named file, already resolved against {@code image}'s directory
     */
    public NativeFile openLink(Path image, String role, Path target) throws IOException {
        if (links >= maxDepth) {
            throw new ImageException(image, role + " " + target + " refused: the chain would be deeper than "
                    + maxDepth + " backing files/parents, the limit");
        }
        NativeFile file = lock(record(target, openNamed(image, role, target, false, false)), image, role);
        links++;
        return file;
    }

    /** Opens a qcow2 external data file named by {@code image}. */
    public NativeFile openDataFile(Path image, Path target, boolean writable, boolean direct) throws IOException {
        String role = "external data file";
        return lock(record(target, openNamed(image, role, target, writable, direct)), image, role);
    }

    /**
     * A file name read from an image as a path: a relative name is taken from the directory of
     * the image naming it (never from the working directory). Empty names and names the file
     * system cannot hold (a NUL byte) are refused here; over-long ones fail when resolved.
     */
    public static Path resolve(Path image, String role, String name) throws ImageException {
        if (name == null || name.isEmpty()) {
            throw new ImageException(image, "the " + role + " name is empty");
        }
        Path p;
        try {
            p = Path.of(name);
        } catch (InvalidPathException e) {
            throw new ImageException(image, "the " + role + " name is no usable path: " + e.getReason());
        }
        Path dir = image.toAbsolutePath().getParent();
        return p.isAbsolute() || dir == null ? p : dir.resolve(p);
    }

    private NativeFile openNamed(Path image, String role, Path target, boolean writable, boolean direct) throws IOException {
        if (policy.refuseAll()) {
            throw new ImageException(image, "names " + role + " " + target + ", refused: " + policy.refusal());
        }
        Path real;
        try {
            real = target.toRealPath();
        } catch (NoSuchFileException e) {
            throw new ImageException(image, role + " " + target + " does not exist");
        } catch (IOException e) {
            throw new ImageException(image, "cannot resolve " + role + " " + target + ": " + e.getMessage(), e);
        }
        // Checked before opening, so nothing outside the allowed directories is even opened...
        checkAllowed(image, role, target, real);
        NativeFile file;
        try {
            // Opened by the name, as QEMU does, so the file's own relative names resolve beside the
            // name (a symbolic link), not beside its target.
            file = NativeFile.openRegular(target, writable, direct);
        } catch (FileSystemException e) {
            throw new ImageException(image, role + " " + target + " refused: it " + e.getReason(), e);
        } catch (IOException e) {
            throw new ImageException(image, "cannot open " + role + " " + target + ": " + e.getMessage(), e);
        }
        try {
            // ...and again on what was opened, in case a directory on the way was swapped meanwhile.
            checkAllowed(image, role, target, Files.readSymbolicLink(descriptorLink(file)));
            return file;
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    private void checkAllowed(Path image, String role, Path target, Path real) throws ImageException {
        if (!policy.allows(real)) {
            throw new ImageException(image, role + " " + target + (real.equals(target) ? "" : " (" + real + ")")
                    + " refused: " + policy.refusal());
        }
    }

    /** Remembers an opened file; a file already in the chain is a loop. Closes the file on refusal. */
    private NativeFile record(Path path, NativeFile file) throws IOException {
        try {
            Object identity = Files.readAttributes(descriptorLink(file), BasicFileAttributes.class).fileKey();
            int seen = identities.indexOf(identity);
            if (seen >= 0) {
                throw new ImageException(path, "the chain loops: " + paths + " leads back to " + paths.get(seen));
            }
            identities.add(identity);
            paths.add(path);
            return file;
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /**
     * Takes the file's locks after {@link #record}, so a loop is reported as one, not as the
     * conflict with our own first open it would be. Closes the file on refusal.
     *
     * @param image for a file an image names, that image (null for the image itself)
     * @param role  what the file is to {@code image}, for messages
     */
    private NativeFile lock(NativeFile file, Path image, String role) throws IOException {
        if (!locking) {
            return file;
        }
        try {
            ImageLocks.acquire(file, ImageLocks.Claim.of(file.writable()));
            return file;
        } catch (ImageException e) {
            file.close();
            if (image == null) {
                throw e;
            }
            throw new ImageException(image, role + " " + e.getMessage(), e);
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /** The kernel's link to the open file: follows the descriptor, never the path it was opened by. */
    private static Path descriptorLink(NativeFile file) {
        return Path.of("/proc/self/fd/" + file.fd());
    }
}
