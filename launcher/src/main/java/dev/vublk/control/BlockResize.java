package dev.vublk.control;

import dev.vublk.vhost.blk.BlkDisk;
import java.io.IOException;
import java.util.Map;

/** {@code block_resize}: {@code size} in bytes; {@code device} or {@code node-name}, if given, must name the disk. */
record BlockResize(BlkDisk disk) implements QmpCommand {
    @Override
    public Object execute(Map<String, Object> arguments) throws QmpException {
        QmpArguments args = new QmpArguments(arguments);
        String device = args.optionalString("device");
        String nodeName = args.optionalString("node-name");
        long size = args.requiredLong("size");
        args.noOthers(); // every argument is checked before any is acted on, as QEMU does
        DiskCommands.checkDevice(disk, device);
        DiskCommands.checkDevice(disk, nodeName);
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
