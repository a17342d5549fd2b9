package dev.vublk.control;

import dev.vublk.vhost.blk.BlkDisk;
import java.io.IOException;
import java.util.Map;

/** {@code block_resize}: {@code size} in bytes; {@code device} or {@code node-name}, if given, must name the disk. */
record BlockResize(BlkDisk disk) implements QmpCommand {
    @Override
    public Object execute(Map<String, Object> arguments) throws QmpException {
        QmpArguments args = new QmpArguments(arguments);
        DiskCommands.checkDevice(disk, args.optionalString("device"));
        DiskCommands.checkDevice(disk, args.optionalString("node-name"));
        long size = args.requiredLong("size");
        args.noOthers();
        if (size < 0) {
            throw new QmpException("Parameter 'size' expects a >0 size");
        }
        try {
            disk.resize(size);
        } catch (UnsupportedOperationException | IllegalArgumentException | IOException e) {
            throw new QmpException("cannot resize " + DiskCommands.name(disk) + " to " + size + " bytes: "
                    + DiskCommands.message(e));
        }
        return Map.of();
    }
}
