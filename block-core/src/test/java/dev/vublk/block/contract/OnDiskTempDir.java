package dev.vublk.block.contract;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.AnnotatedElementContext;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.io.TempDirFactory;

/**
 * Temporary directories in the module's {@code target}, on the disk the build runs on: the
 * default temporary directory may be a tmpfs, which refuses O_DIRECT, and the O_DIRECT half of
 * the contract must run, not be skipped. (If the build disk refuses O_DIRECT too, those runs fail
 * at open: loud, never counted as a pass.)
 */
public final class OnDiskTempDir implements TempDirFactory {
    @Override
    public Path createTempDirectory(AnnotatedElementContext element, ExtensionContext context) throws IOException {
        Path target = Path.of(System.getProperty("basedir", "."), "target");
        return Files.createTempDirectory(Files.createDirectories(target), "contract-");
    }
}
