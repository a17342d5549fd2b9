package dev.vublk.control;

import dev.vublk.block.BlockImage;
import dev.vublk.block.NetworkVolumes;
import dev.vublk.block.qcow2.QcowImage;
import dev.vublk.block.vhdx.VhdxImage;
import dev.vublk.uring.NativeFile;
import dev.vublk.vhost.blk.BlkDisk;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code query-block}: one entry, our disk, in the shape of QEMU's BlockInfo as far as it
 * applies: {@code device} (the serial), {@code inserted} with the file, access, format, chain
 * depth and the I/O limits under {@code block_set_io_throttle}'s names, and {@code image}, an
 * ImageInfo per file of the chain linked through {@code backing-image}.
 */
record QueryBlock(BlkDisk disk) implements QmpCommand {
    @Override
    public Object execute(Map<String, Object> arguments) throws QmpException {
        new QmpArguments(arguments).noOthers();
        BlockImage top = disk.image();
        Map<String, Object> inserted = new LinkedHashMap<>();
        inserted.put("file", top.location());
        inserted.put("ro", top.readOnly());
        inserted.put("drv", formatName(top));
        if (top.backing() != null) {
            inserted.put("backing_file", top.backing().location());
        }
        int depth = 0;
        for (BlockImage b = top.backing(); b != null; b = b.backing()) {
            depth++;
        }
        inserted.put("backing_file_depth", (long) depth);
        inserted.put("encrypted", false);
        inserted.putAll(BlockSetIoThrottle.describe(disk.limits()));
        inserted.put("image", imageInfo(top));
        Map<String, Object> device = new LinkedHashMap<>();
        device.put("device", DiskCommands.name(disk));
        device.put("locked", false);
        device.put("removable", false);
        device.put("inserted", inserted);
        return List.of(device);
    }

    private static Map<String, Object> imageInfo(BlockImage image) {
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("filename", image.location());
        info.put("format", formatName(image));
        info.put("virtual-size", image.size());
        Long actual = actualSize(image);
        if (actual != null) {
            info.put("actual-size", actual);
        }
        switch (image) {
            case QcowImage q -> info.put("cluster-size", (long) q.metadata().clusterSize());
            case VhdxImage v -> info.put("cluster-size", (long) v.metadata().blockSize()); // QEMU too reports the block size
            default -> { } // RAW has no allocation unit of its own
        }
        BlockImage backing = image.backing();
        if (backing != null) {
            info.put("backing-filename", backing.location());
            info.put("backing-filename-format", formatName(backing));
            info.put("backing-image", imageInfo(backing));
        }
        return info;
    }

    private static String formatName(BlockImage image) {
        return image.format().name().toLowerCase(Locale.ROOT);
    }

    /** Bytes the file takes on its file system; unknown (null) for network storage and block devices. */
    private static Long actualSize(BlockImage image) {
        if (NetworkVolumes.names(image.location())) {
            return null;
        }
        try (NativeFile f = NativeFile.openRegular(image.path(), false, false)) {
            return f.allocatedBytes();
        } catch (IOException e) {
            return null;
        }
    }
}
