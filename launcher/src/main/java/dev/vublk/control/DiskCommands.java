package dev.vublk.control;

import dev.vublk.vhost.blk.BlkDisk;
import java.util.LinkedHashMap;
import java.util.Map;

/** The control socket's commands about the disk, by QMP name, to hand to {@link ControlServer#start}. */
public final class DiskCommands {
    /** QEMU's error class for a device name that names nothing. */
    static final String DEVICE_NOT_FOUND = "DeviceNotFound";

    private DiskCommands() {}

    public static Map<String, QmpCommand> of(BlkDisk disk) {
        Map<String, QmpCommand> commands = new LinkedHashMap<>();
        commands.put("query-status", new QueryStatus(disk));
        commands.put("query-block", new QueryBlock(disk));
        commands.put("query-stats", new QueryStats(disk::statistics));
        commands.put("block_resize", new BlockResize(disk));
        commands.put("block_set_io_throttle", new BlockSetIoThrottle(disk));
        return commands;
    }

    /** The disk's QMP name: the serial the guest sees, as {@code query-block} reports it. */
    static String name(BlkDisk disk) {
        return disk.options().serial();
    }

    /**
     * Checks an optional argument naming the device (QEMU's {@code device}, {@code id},
     * {@code node-name}): there is one disk, so a name given must be its own.
     */
    static void checkDevice(BlkDisk disk, String given) throws QmpException {
        if (given != null && !given.equals(name(disk))) {
            throw new QmpException(DEVICE_NOT_FOUND, "Device '" + given + "' not found (this backend serves '" + name(disk) + "')");
        }
    }

    /** An exception's message for a reply, never empty or "null". */
    static String message(Exception e) {
        return e.getMessage() != null && !e.getMessage().isEmpty() ? e.getMessage() : e.getClass().getSimpleName();
    }
}
