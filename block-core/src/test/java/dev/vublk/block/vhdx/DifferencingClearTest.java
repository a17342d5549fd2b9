package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageOptions;
import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.NativeFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Discard and write-zeroes on every block state of a differencing disk, whole and partial: what
 * the guest reads afterwards is zeros for write-zeroes, zeros or the previous content for
 * discard (never the parent's data where the disk showed something else), and the rest of the
 * block is untouched (the parent keeps showing where it did). Reopening reads the same.
 */
class DifferencingClearTest {
    static final int MIB = 1 << 20, SIZE = 8 * MIB, SECTOR = 512;
    static final int NOT_PRESENT = 0, FULL = 1, PARTIAL = 2, ZERO = 3, UNMAPPED = 4, UNDEFINED = 5, BLOCKS = 6;

    @TempDir
    Path dir;

    private Path child(byte[] parent) throws Exception {
        Path base = dir.resolve("base.vhdx"), child = dir.resolve("child.vhdx");
        VhdxCreator.create(base).size(SIZE).blockSize(MIB).write();
        try (VhdxImage image = VhdxImage.open(base, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            h.write(0, parent);
        }
        VhdxCreator.create(child).parent(base).blockSize(MIB).write();
        try (VhdxImage image = VhdxImage.open(child, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            h.write((long) FULL * MIB, TestImages.random(11, MIB));
            h.write((long) PARTIAL * MIB + (128 << 10), TestImages.random(12, 256 << 10));
            h.writeZeroes((long) ZERO * MIB, MIB, true);
            assertEquals(BatEntry.FULLY_PRESENT, BatEntry.state(image.metadata().payloadEntry(FULL)));
            assertEquals(BatEntry.PARTIALLY_PRESENT, BatEntry.state(image.metadata().payloadEntry(PARTIAL)));
            assertEquals(BatEntry.ZERO, BatEntry.state(image.metadata().payloadEntry(ZERO)));
        }
        // States our writer never makes but other writers do.
        try (NativeFile f = NativeFile.open(child, true, false)) {
            RegionTable rt = RegionTable.parseOrNull(f.readBytes(Layout.REGION_TABLE1_OFFSET, Layout.REGION_TABLE_SIZE));
            long bat = rt.find(KnownGuids.BAT_REGION, child).fileOffset();
            for (int[] s : new int[][] {{UNMAPPED, BatEntry.UNMAPPED}, {UNDEFINED, BatEntry.UNDEFINED}}) {
                f.writeBytes(bat + 8L * s[0], ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, s[1]).array());
            }
            f.fsync();
        }
        return child;
    }

    @ParameterizedTest(name = "{0} at +{1} of {2} bytes, unmap {3}")
    @CsvSource({
        "discard, 65536, 262144, true",        // overlaps the partially present block's written quarter
        "discard, 0, 1048576, true",
        "discard, 196608, 4096, true",         // inside the written quarter only
        "zeroes, 65536, 262144, false",
        "zeroes, 65536, 262144, true",
        "zeroes, 0, 1048576, false",
        "zeroes, 0, 1048576, true",
    })
    void everyBlockStateReadsAsAllowed(String op, int inBlock, int length, boolean unmap) throws Exception {
        byte[] parent = TestImages.random(10, SIZE);
        Path img = child(parent);
        boolean zeroes = op.equals("zeroes");
        byte[] before;
        byte[] after;
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults()); WorkerDriver h = new WorkerDriver(image)) {
            before = h.read(0, BLOCKS * MIB);
            assertArrayEquals(Arrays.copyOfRange(parent, 0, MIB), Arrays.copyOfRange(before, 0, MIB), "not present: the parent's");
            for (int b = 0; b < BLOCKS; b++) {
                long at = (long) b * MIB + inBlock;
                if (zeroes) {
                    h.writeZeroes(at, length, unmap);
                } else {
                    h.discard(at, length);
                }
            }
            after = h.read(0, BLOCKS * MIB);
        }
        for (int b = 0; b < BLOCKS; b++) {
            for (int s = b * MIB; s < (b + 1) * MIB; s += SECTOR) {
                int in = s - b * MIB;
                boolean cleared = in >= inBlock && in < inBlock + length;
                boolean zero = Arrays.equals(after, s, s + SECTOR, new byte[SECTOR], 0, SECTOR);
                boolean same = Arrays.equals(after, s, s + SECTOR, before, s, s + SECTOR);
                String where = op + ": block state " + b + ", sector at +" + in;
                if (!cleared) {
                    assertTrue(same, where + " outside the range changed");
                } else if (zeroes) {
                    assertTrue(zero, where + " does not read as zeros after write-zeroes");
                } else {
                    assertTrue(zero || same, where + " reads neither zeros nor its previous content after discard"
                            + (Arrays.equals(after, s, s + SECTOR, parent, s, s + SECTOR) ? " (the parent's data shows)" : ""));
                }
            }
        }
        try (VhdxImage image = VhdxImage.open(img, ImageOptions.defaults().withReadOnly(true)); WorkerDriver h = new WorkerDriver(image)) {
            assertArrayEquals(after, h.read(0, BLOCKS * MIB), "reopened image reads differently");
        }
    }
}
