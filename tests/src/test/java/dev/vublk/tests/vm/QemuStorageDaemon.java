package dev.vublk.tests.vm;

import java.nio.file.Path;
import java.util.List;

/**
 * Command lines for QEMU's own vhost-user-blk export, the reference backend the guest kit
 * is proven against (and a point of comparison for ours).
 */
public final class QemuStorageDaemon {

    private QemuStorageDaemon() {
    }

    /** Exports a raw image on {@value BackendProcess#SOCKET_PLACEHOLDER} with {@code queues} queues. */
    public static List<String> rawExport(Path image, int queues, boolean writable) {
        return List.of("qemu-storage-daemon",
                "--blockdev", "driver=file,node-name=file0,filename=" + image + ",cache.direct=on"
                        + (writable ? "" : ",read-only=on"),
                "--blockdev", "driver=raw,node-name=disk0,file=file0" + (writable ? "" : ",read-only=on"),
                "--export", "type=vhost-user-blk,id=export0,node-name=disk0,addr.type=unix,addr.path="
                        + BackendProcess.SOCKET_PLACEHOLDER + ",writable=" + (writable ? "on" : "off")
                        + ",num-queues=" + queues);
    }
}
