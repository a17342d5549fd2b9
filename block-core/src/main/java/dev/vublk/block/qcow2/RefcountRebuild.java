package dev.vublk.block.qcow2;

import dev.vublk.uring.NativeFile;
import java.io.IOException;

/** Rebuilds refcounts of an image left dirty by lazy refcount updates. */
final class RefcountRebuild {
    private RefcountRebuild() {}

    static void rebuild(NativeFile file, QcowHeader h) throws IOException, QcowFormatException {
        throw new QcowFormatException("image is dirty (lazy refcounts were not written back); open it read-only"
                + " or repair it with 'qemu-img check -r all'");
    }
}
