package dev.vublk.tests.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** qemu-img for the tests module: images in each format, conversion back to raw, and checks. */
public final class QemuImg {
    private QemuImg() {}

    public static void create(String format, Path image, long bytes) throws IOException {
        HostImages.run(List.of("qemu-img", "create", "-q", "-f", format, image.toString(), Long.toString(bytes)));
    }

    /** {@link #create(String, Path, long)} with format options ({@code -o}, e.g. "block_size=1M"). */
    public static void create(String format, Path image, long bytes, String options) throws IOException {
        HostImages.run(List.of("qemu-img", "create", "-q", "-f", format, "-o", options, image.toString(), Long.toString(bytes)));
    }

    /** The guest's view of {@code image} as a raw file at {@code raw}. */
    public static Path toRaw(String format, Path image, Path raw) throws IOException {
        HostImages.run(List.of("qemu-img", "convert", "-f", format, "-O", "raw", image.toString(), raw.toString()));
        return raw;
    }

    /** {@code qemu-img check} finds neither corruption nor leaks (exit 0). */
    public static void assertCheckClean(String format, Path image) throws IOException {
        HostImages.Result r = HostImages.exec(List.of("qemu-img", "check", "-f", format, image.toString()));
        assertEquals(0, r.exitCode(), "qemu-img check " + image + ":\n" + r.describe());
    }

    /**
     * {@code qemu-img check} finds no corruption and no error: exit 0, or 3 when clusters leaked,
     * which a writer killed between allocating a cluster and mapping it leaves (space, not data).
     * Returns the leaked clusters.
     */
    public static long assertNoCorruption(String format, Path image) throws IOException {
        HostImages.Result r = HostImages.exec(List.of("qemu-img", "check", "-f", format, image.toString()));
        assertTrue(r.exitCode() == 0 || r.exitCode() == 3, "qemu-img check " + image + ":\n" + r.describe());
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+) leaked clusters? w").matcher(r.stdout());
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }

    /** The virtual size {@code qemu-img info} reports. */
    public static long virtualSize(String format, Path image) throws IOException {
        String json = HostImages.run(List.of("qemu-img", "info", "-U", "--output=json", "-f", format, image.toString()));
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"virtual-size\":\\s*(\\d+)").matcher(json);
        if (!m.find()) {
            throw new IOException("no virtual-size in qemu-img info of " + image + ":\n" + json);
        }
        return Long.parseLong(m.group(1));
    }

    /** Bytes the file system holds for the file: drops when holes are punched. */
    static long allocatedBytes(Path file) throws IOException {
        String[] blocks = HostImages.run(List.of("stat", "-c", "%b %B", file.toString())).strip().split(" ");
        return Long.parseLong(blocks[0]) * Long.parseLong(blocks[1]);
    }
}
