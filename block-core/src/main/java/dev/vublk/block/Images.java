package dev.vublk.block;

import dev.vublk.block.qcow2.QcowImage;
import dev.vublk.block.raw.RawImage;
import dev.vublk.block.vhdx.VhdxImage;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Opens an image of any supported format. */
public final class Images {
    private Images() {}

    /**
     * Opens {@code path}; {@code format} null means detect by magic number. A RAW image found by
     * detection refuses guest writes that would give it another format's magic.
     */
    public static BlockImage open(Path path, ImageFormat format, ImageOptions options) throws IOException {
        if (!Files.exists(path)) {
            throw new ImageException(path, "no such file");
        }
        if (!Files.isReadable(path)) {
            throw new ImageException(path, "not readable");
        }
        ImageFormat actual = format != null ? format : detect(path);
        return switch (actual) {
            case RAW -> RawImage.open(path, options, format == null);
            case QCOW2 -> QcowImage.open(path, options);
            case VHDX -> VhdxImage.open(path, options);
        };
    }

    /**
     * Opens what the operator named: network storage ({@link NetworkVolumes}), served RAW, or a
     * path as {@link #open(Path, ImageFormat, ImageOptions)} does. Network storage holds no
     * qcow2 or VHDX here: their metadata is read and written through files. With {@code format}
     * null it is served RAW without probing: nothing we open follows what its first sector says.
     */
    public static BlockImage open(String location, ImageFormat format, ImageOptions options) throws IOException {
        if (!NetworkVolumes.names(location)) {
            return open(Path.of(location), format, options);
        }
        if (format != null && format != ImageFormat.RAW) {
            throw new ImageException(location, format + " over network storage is not supported; serve the volume as RAW");
        }
        return RawImage.over(NetworkVolumes.open(location, options), options.readOnly());
    }

    public static ImageFormat detect(Path path) throws IOException {
        try (NativeFile f = NativeFile.open(path, false, false)) {
            return ImageFormat.detect(f);
        }
    }

    /**
     * One part per image of the chain, top first: path, format, virtual size, cluster or block
     * size, access, and the files it names (the startup log joins them into its one line, so an
     * operator sees every file the backend opened).
     */
    public static List<String> describeChain(BlockImage top) {
        List<String> lines = new ArrayList<>();
        for (BlockImage i = top; i != null; i = i.backing()) {
            StringBuilder b = new StringBuilder(i == top ? "image " : "backed by ").append(i.location())
                    .append(": ").append(i.format()).append(", ").append(i.size()).append(" bytes, ");
            if (i.allocationUnit() > 0) {
                b.append(i.format() == ImageFormat.VHDX ? "block " : "cluster ").append(i.allocationUnit()).append(" bytes, ");
            }
            b.append(i.readOnly() ? "read-only" : "read-write");
            if (i.externalDataFile() != null) {
                b.append(", external data file ").append(i.externalDataFile());
            }
            if (i.backing() != null) {
                b.append(", ").append(i.format() == ImageFormat.VHDX ? "parent " : "backing file ").append(i.backing().path());
            }
            if (i instanceof RawImage raw && raw.guardsFirstSector()) {
                b.append(", format detected (writes that would change it are refused)");
            }
            lines.add(b.toString());
        }
        return lines;
    }
}
