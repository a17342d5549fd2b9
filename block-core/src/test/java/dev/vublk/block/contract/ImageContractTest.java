package dev.vublk.block.contract;

import static dev.vublk.block.contract.BufferLayout.ODD;
import static dev.vublk.block.contract.BufferLayout.ODD_TOO;
import static dev.vublk.block.contract.BufferLayout.ONE;
import static dev.vublk.block.contract.BufferLayout.SECTORS;
import static dev.vublk.block.contract.Fixture.SIZE;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.Errno;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;

/**
 * What every image format must do, whatever its layout on disk: one suite over RAW, QCOW2, VHDX,
 * a QCOW2 over a backing file and a VHDX differencing disk, each opened buffered and with
 * O_DIRECT, driven only through {@code Images.open}, {@code BlockImage} and {@code BlockWorker}
 * on a real io_uring. Each test ends with {@code qemu-img check} of the image and
 * {@code qemu-img compare} with a RAW image that received the same requests. The rules on
 * errnos, byte counts and misaligned requests at the end were broken by one format or another
 * before one engine served them all.
 */
class ImageContractTest {
    @TempDir(factory = OnDiskTempDir.class)
    Path dir;

    static byte[] random(long seed, int length) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    @EveryImage
    void unwrittenSpaceReadsZerosOrTheLowerImage(Fixture fixture, boolean direct) throws Exception {
        ContractImage.check(fixture, direct, dir, c -> {
            int u = fixture.unit;
            c.assertReads(0, 512, ONE);
            c.assertReads(u - 512, 1024, ONE);
            c.assertReads(Fixture.LOWER_DATA - 4096, 8192, SECTORS); // where the lower image's data ends
            c.assertReads(SIZE - 512, 512, ONE);
            c.assertContent();
        });
    }

    /** Sizes from one sector to several units, at and across unit boundaries, in one or many iovecs. */
    @EveryImage
    void writesReadBackBitExact(Fixture fixture, boolean direct) throws Exception {
        ContractImage.check(fixture, direct, dir, c -> {
            int u = fixture.unit;
            long[][] writes = { // offset, length
                {0, 512}, {u - 512, 512}, {u - 4096, 8192}, {2L * u + 512, 3L * u + 1024},
                {(9 << 20) + 1536, 2L * u}, {3L * u - 1024, 4096}, {SIZE - 512, 512}};
            BufferLayout[] layouts = {ONE, SECTORS};
            for (int i = 0; i < writes.length; i++) {
                c.write(writes[i][0], random(i, (int) writes[i][1]), layouts[i % 2]);
            }
            for (int i = 0; i < writes.length; i++) { // each write with its neighbours, in the other layout
                long from = Math.max(0, writes[i][0] - 512), to = Math.min(SIZE, writes[i][0] + writes[i][1] + 512);
                c.assertReads(from, (int) (to - from), layouts[(i + 1) % 2]);
            }
            c.assertContent();
        });
    }

    /** Guest buffers at odd addresses with lengths that are no sector multiples: bounced under O_DIRECT. */
    @EveryImage
    void misalignedGuestBuffersReadAndWriteExactly(Fixture fixture, boolean direct) throws Exception {
        ContractImage.check(fixture, direct, dir, c -> {
            int u = fixture.unit;
            c.write(0, random(1, 8192), ODD);
            c.write(u - 1024, random(2, 4096), ODD_TOO);
            c.write(3L * u + 512, random(3, u + 4096), ODD);
            c.assertReads(0, 8192, ODD_TOO);
            c.assertReads(u - 1536, 8192, ODD);
            c.assertReads(3L * u, u + 8192, new BufferLayout(3, 513, 2047));
            c.assertReads(3L * u, u + 8192, new BufferLayout(4095, 4097));
            c.assertContent();
        });
    }

    /** Whole units, partial ones and ranges never written; with and without may-unmap. */
    @EveryImage
    void writeZeroesReadsZerosAndLeavesNeighboursIntact(Fixture fixture, boolean direct) throws Exception {
        ContractImage.check(fixture, direct, dir, c -> {
            int u = fixture.unit;
            c.write(u, random(1, 4 * u), SECTORS);
            c.writeZeroes(u + 512, 1024, false);
            c.writeZeroes(2L * u, u, false);
            c.writeZeroes(3L * u - 4096, u + 8192, true);
            c.writeZeroes(5L * u - 1024, 512, true);
            c.writeZeroes(6L * u, u, true);              // never written: hides the lower image
            c.writeZeroes(7L * u + 512, 4096, false);
            c.assertContent();
            c.write(2L * u + 4096, random(2, 8192), ONE); // zeroed space takes data again
            c.assertReads(2L * u, u, SECTORS);
            c.assertContent();
        });
    }

    @EveryImage
    void discardLeavesNeighboursIntactAndNeverExposesOlderData(Fixture fixture, boolean direct) throws Exception {
        ContractImage.check(fixture, direct, dir, c -> {
            int u = fixture.unit;
            c.write(u, random(1, 4 * u), SECTORS);       // over the lower image's data where there is one
            c.discard(2L * u, 2 * u);
            c.discard(u + 512, 1024);
            c.discard(4L * u + u / 2, u);                 // half written, half never written
            c.discard(6L * u, u);                         // never written
            c.assertContent();
            c.write(2L * u + 4096, random(2, 8192), ONE); // discarded space takes data again
            c.assertContent();
        });
    }

    @EveryImage
    void flushCompletesWithZero(Fixture fixture, boolean direct) throws Exception {
        ContractImage.check(fixture, direct, dir, c -> {
            assertEquals(0, c.driver().tryFlush(), "flush of an unchanged image");
            c.write(fixture.unit - 512, random(1, 1024), ONE);
            assertEquals(0, c.driver().tryFlush(), "flush after a write");
            assertEquals(0, c.driver().tryFlush(), "flush with nothing new");
            c.open(true);
            assertEquals(0, c.driver().tryFlush(), "flush of a read-only open");
        });
    }

    /** Requests reaching past the end fail with -EIO, change nothing, and the image goes on serving. */
    @EveryImage
    void outOfRangeRequestsFailWithEio(Fixture fixture, boolean direct) throws Exception {
        ContractImage.check(fixture, direct, dir, c -> {
            WorkerDriver d = c.driver();
            MemorySegment sector = d.arena().allocate(512, 4096), two = d.arena().allocate(1024, 4096);
            two.fill((byte) 0x33);
            for (long offset : new long[] {SIZE, 1L << 40}) {
                assertEquals(-Errno.EIO, d.tryReadInto(offset, sector), "read at " + offset);
                assertEquals(-Errno.EIO, d.tryWriteFrom(offset, sector), "write at " + offset);
                assertEquals(-Errno.EIO, d.tryWriteZeroes(offset, 512, false), "write-zeroes at " + offset);
                assertEquals(-Errno.EIO, d.tryWriteZeroes(offset, 512, true), "write-zeroes (unmap) at " + offset);
                assertEquals(-Errno.EIO, d.tryDiscard(offset, 512), "discard at " + offset);
            }
            long across = SIZE - 512; // starts inside, ends outside
            assertEquals(-Errno.EIO, d.tryReadInto(across, two), "read across the end");
            assertEquals(-Errno.EIO, d.tryWriteFrom(across, two), "write across the end");
            assertEquals(-Errno.EIO, d.tryWriteZeroes(across, 1024, false), "write-zeroes across the end");
            assertEquals(-Errno.EIO, d.tryDiscard(across, 1024), "discard across the end");
            c.assertContent();
            c.write(across, random(1, 512), ONE);
        });
    }

    @EveryImage
    void zeroingAndDiscardOnAReadOnlyOpenFailWithErofs(Fixture fixture, boolean direct) throws Exception {
        ContractImage.check(fixture, direct, dir, c -> {
            c.write(0, random(1, 8192), ONE);
            c.open(true);
            WorkerDriver d = c.driver();
            assertEquals(-Errno.EROFS, d.tryWriteZeroes(0, 4096, false), "write-zeroes");
            assertEquals(-Errno.EROFS, d.tryWriteZeroes(0, fixture.unit, true), "write-zeroes (unmap)");
            assertEquals(-Errno.EROFS, d.tryDiscard(0, fixture.unit), "discard");
            c.assertContent();
        });
    }

    /** A guest write to a read-only open is refused as such, like write-zeroes and discard are. */
    @EveryImage
    void writeToAReadOnlyOpenFailsWithErofs(Fixture fixture, boolean direct) throws Exception {
        ContractImage.check(fixture, direct, dir, c -> {
            c.open(true);
            assertEquals(-Errno.EROFS, c.driver().tryWrite(0, new byte[4096]), "write to a read-only open");
            c.assertContent();
        });
    }

    /**
     * A request that would change a read-only image is refused for that before its range is
     * looked at: the device's answer does not depend on which check a format runs first.
     */
    @EveryImage
    void outOfRangeChangesToAReadOnlyOpenFailWithErofs(Fixture fixture, boolean direct) throws Exception {
        ContractImage.check(fixture, direct, dir, c -> {
            c.open(true);
            WorkerDriver d = c.driver();
            assertAll(
                    () -> assertEquals(-Errno.EROFS, d.tryWrite(SIZE, new byte[512]), "write"),
                    () -> assertEquals(-Errno.EROFS, d.tryWriteZeroes(SIZE, 512, false), "write-zeroes"),
                    () -> assertEquals(-Errno.EROFS, d.tryDiscard(SIZE, 512), "discard"));
        });
    }

    /** A read or write completes with the number of bytes it moved, as preadv and pwritev do. */
    @EveryImage
    void readAndWriteCompleteWithTheirByteCount(Fixture fixture, boolean direct) throws Exception {
        ContractImage.check(fixture, direct, dir, c -> {
            WorkerDriver d = c.driver();
            MemorySegment buf = d.arena().allocate(3 * fixture.unit, 4096);
            assertAll(
                    () -> assertEquals(8192, c.write(fixture.unit - 4096, new byte[8192], BufferLayout.SECTORS), "write of 8192 bytes"),
                    () -> assertEquals(3 * fixture.unit, d.tryReadInto(0, buf), "read of " + buf.byteSize() + " bytes"));
        });
    }

    /**
     * Offsets and lengths must be multiples of {@code requestAlignment()}. The caller checks that,
     * but a worker handed such a request anyway fails it with -EIO and changes nothing, whatever
     * the page cache or the format would have made of it.
     */
    @EveryImage
    void misalignedRequestsFailWithEio(Fixture fixture, boolean direct) throws Exception {
        ContractImage.check(fixture, direct, dir, c -> {
            WorkerDriver d = c.driver();
            MemorySegment buf = d.arena().allocate(4096, 4096);
            buf.fill((byte) 0x77);
            long odd = fixture.unit + 100;
            assertAll(
                    () -> assertEquals(-Errno.EIO, d.tryReadInto(odd, buf), "read at " + odd),
                    () -> assertEquals(-Errno.EIO, d.tryWriteFrom(odd, buf), "write at " + odd),
                    () -> assertEquals(-Errno.EIO, d.tryWriteFrom(fixture.unit, buf.asSlice(0, 1000)), "write of 1000 bytes"),
                    () -> assertEquals(-Errno.EIO, d.tryWriteZeroes(odd, 4096, false), "write-zeroes at " + odd),
                    () -> assertEquals(-Errno.EIO, d.tryDiscard(odd, 4096), "discard at " + odd));
            c.assertContent();
        });
    }
}
