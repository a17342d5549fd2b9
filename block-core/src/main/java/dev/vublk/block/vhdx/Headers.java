package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.UUID;

/**
 * The two header copies and which is current. An update writes the older copy with the next
 * sequence number and flushes, then does the same to the other, so one valid current header
 * survives a crash at any point.
 */
final class Headers {
    private final NativeFile file;
    private VhdxHeader current;
    private boolean currentIsSecond;

    private Headers(NativeFile file, VhdxHeader current, boolean currentIsSecond) {
        this.file = file;
        this.current = current;
        this.currentIsSecond = currentIsSecond;
    }

    static Headers read(NativeFile file, Path path) throws IOException {
        VhdxHeader first = VhdxHeader.parseOrNull(file.readBytes(Layout.HEADER1_OFFSET, Layout.HEADER_SIZE));
        VhdxHeader second = VhdxHeader.parseOrNull(file.readBytes(Layout.HEADER2_OFFSET, Layout.HEADER_SIZE));
        VhdxHeader chosen = VhdxHeader.choose(first, second, path);
        return new Headers(file, chosen, chosen == second && chosen != first);
    }

    VhdxHeader current() {
        return current;
    }

    /** Replaces the GUIDs, writing both copies. */
    void update(UUID fileWrite, UUID dataWrite, UUID log) throws IOException {
        for (int copy = 0; copy < 2; copy++) {
            VhdxHeader next = current.next(fileWrite, dataWrite, log);
            file.writeBytes(currentIsSecond ? Layout.HEADER1_OFFSET : Layout.HEADER2_OFFSET, next.encode());
            file.fdatasync();
            current = next;
            currentIsSecond = !currentIsSecond;
        }
    }

    static void checkWritable(NativeFile file, Path path) throws ImageException {
        if (!file.writable()) {
            throw new ImageException(path, "image is open read-only");
        }
    }
}
