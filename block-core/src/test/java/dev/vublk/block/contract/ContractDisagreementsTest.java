package dev.vublk.block.contract;

import static dev.vublk.block.contract.Fixture.SIZE;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.Errno;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/**
 * The part of the contract the current per-format workers do not all meet: each test states the
 * one behaviour every format must have, and fails for the formats that differ today. They belong
 * with {@link ImageContractTest} once one engine serves every format; until then their failures
 * are the list of what that engine must settle.
 */
class ContractDisagreementsTest {
    @TempDir(factory = OnDiskTempDir.class)
    Path dir;

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
