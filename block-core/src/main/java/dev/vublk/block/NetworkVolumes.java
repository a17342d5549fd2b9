package dev.vublk.block;

import dev.vublk.block.storage.Volume;
import dev.vublk.block.storage.nbd.NbdVolume;
import dev.vublk.block.storage.rbd.RbdVolume;
import java.io.IOException;
import java.util.regex.Pattern;

/**
 * Network storage named the way operators already name it to QEMU: {@code rbd:POOL/IMAGE...}
 * (QEMU's rbd filename syntax) and NBD URIs ({@code nbd://HOST[:PORT]/EXPORT},
 * {@code nbd+unix:///EXPORT?socket=PATH}). Anything else is a path.
 */
public final class NetworkVolumes {
    /** Every NBD URI scheme, the ones we refuse (TLS, vsock) included, so they get a clear message rather than "no such file". */
    private static final Pattern NBD_SCHEME = Pattern.compile("^nbds?(\\+[a-z]+)?://");

    private NetworkVolumes() {}

    /** Whether {@code location} names network storage rather than a file. */
    public static boolean names(String location) {
        return location.startsWith("rbd:") || NBD_SCHEME.matcher(location).find();
    }

    /** Opens the volume {@code location} names; it must be one {@link #names} accepts. */
    static Volume open(String location, ImageOptions options) throws IOException {
        if (location.startsWith("rbd:")) {
            return RbdVolume.open(location, options.readOnly());
        }
        return NbdVolume.open(location, options.readOnly(), options.reconnectDelay());
    }
}
