package dev.vublk.tests.vm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * The QEMU command line of a test VM: TCG (this machine's KVM cannot boot the guest), a
 * {@code microvm} with PCIe so that {@code vhost-user-blk-pci} works, guest RAM in a shared
 * memfd (vhost-user maps it in the backend), PVH boot of the kit's vmlinux, serial on stdio.
 */
public final class QemuCommand {

    static final long DEFAULT_TSC_KHZ = 2_000_000;

    private QemuCommand() {
    }

    public static List<String> build(GuestKit kit, VmSpec spec, Path socket, long tscKhz) {
        List<String> cmd = new ArrayList<>(List.of(
                "qemu-system-x86_64", "-accel", "tcg", "-cpu", "max",
                "-smp", Integer.toString(spec.cpus()), "-m", spec.memoryMiB() + "M",
                "-object", "memory-backend-memfd,id=mem,size=" + spec.memoryMiB() + "M,share=on",
                "-machine", "microvm,pcie=on,memory-backend=mem",
                "-kernel", kit.kernel().toString(), "-initrd", kit.initrd().toString(),
                "-append", kernelCommandLine(spec, tscKhz),
                "-nographic", "-no-reboot", "-serial", "stdio", "-monitor", "none",
                "-chardev", "socket,id=c0,path=" + socket + (spec.reconnect() ? ",reconnect=1" : ""),
                "-device", "vhost-user-blk-pci,chardev=c0,num-queues=" + spec.queues()));
        cmd.addAll(spec.extraQemuArgs());
        return cmd;
    }

    /** A QMP monitor on a Unix socket QEMU creates, for tests that drive QEMU (migration). */
    public static List<String> monitor(Path qmpSocket) {
        return List.of("-qmp", "unix:" + qmpSocket + ",server=on,wait=off");
    }

    /**
     * A migration destination: QEMU starts with its devices (so the vhost-user back-end is
     * connected) and waits for {@code migrate-incoming}, which names the channel.
     */
    public static List<String> incoming() {
        return List.of("-incoming", "defer");
    }

    static String kernelCommandLine(VmSpec spec, long tscKhz) {
        // Under TCG on a busy host the guest's TSC calibration against the PIT fails, after
        // which the kernel hangs waiting for ticks; the TSC runs at the host's rate, so say so.
        StringBuilder sb = new StringBuilder("console=ttyS0 quiet tsc_early_khz=")
                .append(tscKhz).append(" tsc=reliable vutest=").append(spec.test());
        spec.kernelArgs().forEach(a -> sb.append(' ').append(a));
        new TreeMap<>(spec.guestArgs()).forEach((k, v) -> sb.append(" vu_").append(k).append('=').append(v));
        return sb.toString();
    }

    /** The host's TSC frequency as /proc/cpuinfo reports it, or a plausible default. */
    public static long hostTscKhz() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("cpu MHz")) {
                    double mhz = Double.parseDouble(line.substring(line.indexOf(':') + 1).trim());
                    if (mhz > 100) {
                        return Math.round(mhz * 1000);
                    }
                }
            }
        } catch (IOException | NumberFormatException e) {
            // fall through to the default
        }
        return DEFAULT_TSC_KHZ;
    }
}
