package dev.vublk.block.vhdx;

import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Turns a parent locator's Windows-style paths into host paths, in the order the specification
 * asks: relative_path, volume_path, absolute_win32_path. On a POSIX host a volume GUID or drive
 * letter means nothing, so the part after it is taken from the file system root.
 */
final class ParentPaths {
    private static final String EXTENDED = "\\\\?\\";

    private ParentPaths() {}

    static List<Path> candidates(ParentLocator locator, Path child) {
        List<Path> out = new ArrayList<>();
        Path dir = child.toAbsolutePath().getParent();
        String rel = locator.entries().get(ParentLocator.RELATIVE);
        if (rel != null) {
            add(out, () -> dir.resolve(rel.replace('\\', '/')).normalize());
        }
        String vol = locator.entries().get(ParentLocator.VOLUME);
        if (vol != null && vol.startsWith(EXTENDED + "Volume{")) {
            int close = vol.indexOf('}');
            if (close > 0) {
                add(out, () -> Path.of("/" + vol.substring(close + 1).replace('\\', '/')).normalize());
            }
        }
        String abs = locator.entries().get(ParentLocator.ABSOLUTE);
        if (abs != null) {
            String p = abs.startsWith(EXTENDED) ? abs.substring(EXTENDED.length()) : abs;
            if (p.length() >= 2 && p.charAt(1) == ':') {
                p = p.substring(2); // drive letter: meaningless here, try the rest from the root
            }
            String rest = p;
            add(out, () -> Path.of("/" + rest.replace('\\', '/')).normalize());
        }
        return out;
    }

    /**
     * The first candidate that exists, or null. Existence only: what it is (a FIFO, a directory)
     * is checked when it is opened, so a locator naming one is refused rather than skipped.
     */
    static Path locate(ParentLocator locator, Path child) {
        for (Path p : candidates(locator, child)) {
            if (Files.exists(p)) {
                return p;
            }
        }
        return null;
    }

    private static void add(List<Path> out, Supplier<Path> p) {
        try {
            out.add(p.get());
        } catch (InvalidPathException e) {
            // a locator value that is no usable path is simply not a candidate
        }
    }

    /** relative_path value for a parent, as seen from the child's directory, with '\' separators. */
    static String relative(Path child, Path parent) {
        Path dir = child.toAbsolutePath().normalize().getParent();
        return dir.relativize(parent.toAbsolutePath().normalize()).toString().replace('/', '\\');
    }

    /** absolute_win32_path value for a host path. */
    static String absolute(Path parent) {
        return EXTENDED + parent.toAbsolutePath().normalize().toString().substring(1).replace('/', '\\');
    }
}
