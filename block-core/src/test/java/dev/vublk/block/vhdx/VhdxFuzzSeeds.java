package dev.vublk.block.vhdx;

import dev.vublk.block.ImageOptions;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.NativeFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * Remakes the seed corpus of {@link VhdxImageFuzzTest}: small images from the creator and from
 * qemu-img (dynamic, fixed, 4 KiB sectors, differencing without its parent, a pending log), each
 * in {@link FuzzImage}'s compact form with a few requests, checksums re-sealed. The fuzzer reaches
 * the other flags (no re-sealing, read-only open with replay) by flipping the first byte. Run from the module directory with
 * the test classpath: {@code java -cp ... dev.vublk.block.vhdx.VhdxFuzzSeeds OUTPUT_DIR}.
 */
public final class VhdxFuzzSeeds {
    private static final int RESEAL = FuzzImage.RESEAL;

    private VhdxFuzzSeeds() {}

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        Files.createDirectories(out);
        Path work = Files.createTempDirectory("vhdx-seeds");
        try {
            byte[] requests = requests(new int[][] {{0, 0, 4, 0}, {1, 1, 2, 0x61}, {0, 0, 8, 0}, {3, 16, 1, 1},
                    {2, 300, 16, 0}, {1, 700, 3, 0x7f}, {0, 700, 4, 0}, {4, 0, 0, 0}});
            Path dynamic = work.resolve("dynamic.vhdx");
            VhdxCreator.create(dynamic).size(8L << 20).blockSize(1 << 20).write();
            writeSome(dynamic);
            seed(out, "creator-dynamic", dynamic, RESEAL, requests);

            Path fixed = work.resolve("fixed.vhdx");
            VhdxCreator.create(fixed).size(4L << 20).blockSize(1 << 20).fixed().write();
            seed(out, "creator-fixed", fixed, RESEAL, requests);

            Path fourK = work.resolve("4k.vhdx");
            VhdxCreator.create(fourK).size(8L << 20).blockSize(1 << 20).logicalSectorSize(4096).physicalSectorSize(4096).write();
            seed(out, "creator-4k-sectors", fourK, RESEAL, requests);

            Path child = work.resolve("child.vhdx");
            VhdxCreator.create(child).parent(dynamic).blockSize(1 << 20).write();
            seed(out, "creator-differencing-parent-missing", child, RESEAL, requests);

            Path qemuDynamic = work.resolve("qd.vhdx");
            QemuTools.runOk("qemu-img", "create", "-q", "-f", "vhdx", "-o", "block_size=1M,log_size=1M", qemuDynamic.toString(), "8M");
            QemuTools.runOk("qemu-io", "-f", "vhdx", "-c", "write -P 0x61 0 8k", "-c", "write -P 0x62 3M 4k", qemuDynamic.toString());
            seed(out, "qemu-dynamic", qemuDynamic, RESEAL, requests);

            Path qemuFixed = work.resolve("qf.vhdx");
            QemuTools.runOk("qemu-img", "create", "-q", "-f", "vhdx", "-o", "subformat=fixed,block_size=1M,log_size=1M",
                    qemuFixed.toString(), "4M");
            seed(out, "qemu-fixed", qemuFixed, RESEAL, requests);

            pendingLog(dynamic);
            seed(out, "creator-pending-log", dynamic, RESEAL, requests);
        } finally {
            try (Stream<Path> s = Files.walk(work)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
    }

    /** Requests as {kind, offset in 4 KiB units, length units, fill}. */
    private static byte[] requests(int[][] list) {
        ByteBuffer b = ByteBuffer.allocate(list.length * VhdxImageFuzzTest.REQUEST).order(ByteOrder.LITTLE_ENDIAN);
        for (int[] r : list) {
            b.put((byte) r[0]).putInt(r[1]).put((byte) Math.max(0, r[2] - 1)).put((byte) r[3]).put((byte) 0);
        }
        return b.array();
    }

    private static void seed(Path out, String name, Path image, int flags, byte[] requests) throws Exception {
        Files.write(out.resolve(name), FuzzImage.compact(image, flags, requests));
    }

    private static void writeSome(Path img) throws Exception {
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            byte[] a = new byte[8192];
            Arrays.fill(a, (byte) 0x41);
            h.write(0, a);
            h.write(3L << 20, Arrays.copyOf(a, 4096));
        }
    }

    /**
     * Leaves a log entry written but not applied: block 5 points at a new 1 MiB block past the
     * end of the file, whose first page holds data. Only the logged BAT page references it.
     */
    private static void pendingLog(Path img) throws Exception {
        try (NativeFile f = NativeFile.open(img, true, false)) {
            Headers headers = Headers.read(f, img);
            RegionTable rt = RegionTable.parseOrNull(f.readBytes(Layout.REGION_TABLE1_OFFSET, Layout.REGION_TABLE_SIZE));
            long bat = rt.find(KnownGuids.BAT_REGION, img).fileOffset();
            long fileEnd = Layout.roundUp(f.size(), Layout.MIB);
            byte[] data = new byte[4096];
            Arrays.fill(data, (byte) 0x77);
            f.writeBytes(fileEnd, data);
            byte[] page = f.readBytes(bat, 4096);
            ByteBuffer.wrap(page).order(ByteOrder.LITTLE_ENDIAN).putLong(8 * 5, BatEntry.encode(BatEntry.FULLY_PRESENT, fileEnd));
            UUID guid = UUID.randomUUID();
            byte[] entry = LogEntry.encode(1, 0, guid, fileEnd, fileEnd + Layout.MIB, List.of(new SectorUpdate(bat, page)));
            VhdxHeader h = headers.current();
            f.writeBytes(h.logOffset(), entry);
            headers.update(h.fileWriteGuid(), h.dataWriteGuid(), guid);
        }
    }
}
