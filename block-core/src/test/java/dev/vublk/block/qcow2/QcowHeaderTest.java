package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.QemuTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QcowHeaderTest {
    @TempDir
    Path dir;

    private QcowHeader parse(Path img) throws Exception {
        byte[] all = Files.readAllBytes(img);
        return QcowHeader.parse(Arrays.copyOf(all, Math.min(all.length, 65536)), all.length);
    }

    @Test
    void readsQemuHeaderWithExtensionsAndBackingName() throws Exception {
        Path base = dir.resolve("base.raw");
        QemuTools.create(base, "raw", null, 1 << 20);
        Path img = dir.resolve("h.qcow2");
        QemuTools.img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "-o", "compression_type=zstd",
                img.toString(), "1M");
        QcowHeader h = parse(img);
        assertEquals(3, h.version());
        assertEquals(16, h.clusterBits());
        assertEquals(1 << 20, h.size());
        assertEquals("base.raw", h.backingFile());
        assertEquals("raw", h.extensionText(HeaderExtension.BACKING_FORMAT));
        assertEquals(QcowHeader.COMPRESSION_ZSTD, h.compressionType());
        assertTrue(h.extensions().stream().anyMatch(e -> e.type() == HeaderExtension.FEATURE_NAME_TABLE));
        String name = FeatureNames.of(h.extensions()).name(FeatureNames.INCOMPATIBLE, 4);
        assertTrue(name.toLowerCase().contains("extended l2"), name);
        // Rewriting the fixed part reproduces it byte for byte.
        byte[] all = Files.readAllBytes(img);
        assertArrayEquals(Arrays.copyOf(all, h.headerLength()), h.encodeFixed());
    }

    @Test
    void featureNamesComeFromTheImageTable() throws Exception {
        Path img = dir.resolve("f.qcow2");
        QemuTools.create(img, "qcow2", null, 1 << 20);
        QcowHeader h = parse(img);
        String names = FeatureNames.of(h.extensions()).describe(FeatureNames.INCOMPATIBLE, 1 | (1L << 33));
        assertTrue(names.contains("bit 0 (dirty bit)") && names.contains("bit 33 (unknown feature bit 33)"), names);
    }

    @Test
    void rejectsBadMagic() {
        byte[] head = new byte[512];
        QcowFormatException e = assertThrows(QcowFormatException.class, () -> QcowHeader.parse(head, 512));
        assertTrue(e.getMessage().contains("magic"));
    }
}
