package dev.vublk.control;

import dev.vublk.uring.Errno;
import dev.vublk.vhost.blk.BlkDisk;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * QEMU's {@code BLOCK_IO_ERROR} event on the control socket: the disk failed a request with an
 * I/O error. {@code device} and {@code node-name} are the disk's name (there is one node),
 * {@code operation} is read or write, {@code action} is {@code report} (the guest got the error)
 * or {@code stop} (the request is held until the disk has space: {@code --on-enospc wait}),
 * {@code nospace} is present, true, when the cause is a full disk or quota (as in QEMU), and
 * {@code reason} is the error's description. The disk rate-limits what it reports.
 */
public final class BlockIoErrorEvent {
    private BlockIoErrorEvent() {}

    /** Makes {@code disk}'s I/O errors events for {@code control}'s clients. */
    public static void attach(BlkDisk disk, ControlServer control) {
        String name = DiskCommands.name(disk);
        disk.setIoErrorListener((write, errno, held) -> control.emit("BLOCK_IO_ERROR", data(name, write, errno, held)));
    }

    static Map<String, Object> data(String name, boolean write, int errno, boolean held) {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("device", name);
        data.put("node-name", name);
        data.put("operation", write ? "write" : "read");
        data.put("action", held ? "stop" : "report");
        if (Errno.isNoSpace(errno)) {
            data.put("nospace", true);
        }
        data.put("reason", Errno.describe(errno));
        return data;
    }
}
