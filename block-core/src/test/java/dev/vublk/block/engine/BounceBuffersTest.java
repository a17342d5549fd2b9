package dev.vublk.block.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.QemuTools;
import dev.vublk.block.WorkerDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class BounceBuffersTest {
    private static final long MIB = 1 << 20;
    /** O_DIRECT needs a file system that takes it: the default temp dir (/tmp) does. */
    @TempDir
    Path dir;

    @Test
    void buffersAreReusedAndNeverExceedTheBudget() {
        try (BounceBuffers b = new BounceBuffers()) {
            BounceBuffers.Buffer small = b.take(4096);
            assertEquals(BounceBuffers.GRANULE, small.segment().byteSize());
            assertEquals(0, small.segment().address() % BounceBuffers.ALIGNMENT);
            b.give(small);
            assertSame(small, b.take(1000), "an idle buffer that fits is reused");
            b.give(small);

            List<BounceBuffers.Buffer> loans = new ArrayList<>();
            for (int i = 0; i < BounceBuffers.BUDGET_BYTES / MIB; i++) {
                BounceBuffers.Buffer x = b.take(MIB);
                assertNotNull(x, "loan " + i);
                loans.add(x);
            }
            assertEquals(BounceBuffers.BUDGET_BYTES, b.allocatedBytes(), "the idle 64 KiB buffer was freed to make room");
            assertNull(b.take(4096), "every byte of the budget is on loan");
            b.give(loans.removeLast());
            assertNotNull(b.take(MIB));
            assertNull(b.take(BounceBuffers.BUDGET_BYTES + 1), "larger than the whole budget");
            assertNull(b.take(0));
        }
    }

    @Test
    void idleBuffersAreFreedForALargerOne() {
        try (BounceBuffers b = new BounceBuffers()) {
            BounceBuffers.Buffer x = b.take(MIB);
            b.give(x);
            BounceBuffers.Buffer all = b.take(BounceBuffers.BUDGET_BYTES);
            assertNotNull(all);
            assertEquals(BounceBuffers.BUDGET_BYTES, b.allocatedBytes());
            b.give(all);
        }
    }

    /**
     * Misaligned guest buffers in O_DIRECT images whose data is allocated (so reads go to the
     * file too). VHDX reports every failed piece as EIO; either way the guest sees IOERR.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"raw, , -12", "qcow2, preallocation=metadata, -12", "vhdx, subformat=fixed, -12"})
    void misalignedTransfersBeyondTheBudgetFailAlone(String format, String options, int errno) throws Exception {
        Path img = dir.resolve("disk." + format);
        long size = 64 * MIB;
        QemuTools.create(img, format, options, size);
        try (BlockImage image = Images.open(img, ImageFormat.valueOf(format.toUpperCase()), ImageOptions.defaults().withDirect(true));
             WorkerDriver d = new WorkerDriver(image);
             Arena arena = Arena.ofConfined()) {
            long over = BounceBuffers.BUDGET_BYTES + MIB;
            // Data first, written aligned: a VHDX block given space as it is written gets a
            // transfer of its own, so only allocated, contiguous data makes one transfer this big.
            assertEquals(over, d.writeFrom(0, arena.allocate(over, 4096)));
            MemorySegment big = arena.allocate(over + 4096, 4096).asSlice(8, over);
            assertEquals(errno, d.tryWriteFrom(0, big), "a write needing more bounce than the budget");
            assertEquals(errno, d.tryReadInto(0, big), "a read needing more bounce than the budget");

            MemorySegment one = arena.allocate(MIB + 4096, 4096).asSlice(8, MIB);
            byte[] data = new byte[(int) MIB];
            Arrays.fill(data, (byte) 0x3c);
            MemorySegment.copy(data, 0, one, ValueLayout.JAVA_BYTE, 0, data.length);
            // Success is any result >= 0 (VHDX reports 0, the others the byte count); the data read back decides.
            assertTrue(d.writeFrom(4 * MIB, one) >= 0, "within the budget it is served");
            one.fill((byte) 0);
            assertTrue(d.readInto(4 * MIB, one) >= 0);
            assertArrayEquals(data, one.toArray(ValueLayout.JAVA_BYTE));
        }
    }
}
