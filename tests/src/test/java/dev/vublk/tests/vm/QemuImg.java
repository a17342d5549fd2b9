package dev.vublk.tests.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** qemu-img for the VM tests: images in each format, conversion back to raw, and checks. */
final class QemuImg {
    private QemuImg() {}

    static void create(String format, Path image, long bytes) throws IOException {
        HostImages.run(List.of("qemu-img", "create", "-q", "-f", format, image.toString(), Long.toString(bytes)));
    }

    static Path toRaw(Path image, Path raw) throws IOException {
        HostImages.run(List.of("qemu-img", "convert", "-O", "raw", image.toString(), raw.toString()));
        return raw;
    }

    static void assertCheckClean(Path image) throws IOException {
        Process p = new ProcessBuilder("qemu-img", "check", image.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        try {
            assertEquals(0, p.waitFor(), "qemu-img check " + image + ":\n" + out);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    /** Bytes the file system holds for the file: drops when holes are punched. */
    static long allocatedBytes(Path file) throws IOException {
        String[] blocks = HostImages.run(List.of("stat", "-c", "%b %B", file.toString())).strip().split(" ");
        return Long.parseLong(blocks[0]) * Long.parseLong(blocks[1]);
    }
}
