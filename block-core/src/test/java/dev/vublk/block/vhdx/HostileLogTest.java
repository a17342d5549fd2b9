package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageException;
import dev.vublk.block.ImageOptions;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Logs written by an attacker rather than a crashed writer: a replay may only touch what the
 * layout allows, may grow the file by at most {@link LogReplay#MAX_REPLAY_GROWTH}, and a refused
 * log leaves the file exactly as it was. The creator's layout: log at 1 MiB (1 MiB long),
 * metadata region at 2 MiB, BAT at 3 MiB.
 */
class HostileLogTest {
    static final long LOG = 1 << 20, BAT = 3 << 20;

    @TempDir
    Path dir;
    Path img;
    final UUID guid = UUID.randomUUID();

    @BeforeEach
    void create() throws Exception {
        img = dir.resolve("h.vhdx");
        VhdxCreator.create(img).size(16L << 20).blockSize(1 << 20).write();
    }

    /** Makes {@code entries} (laid out from the start of the log) the log both headers point at. */
    private void pendingLog(long logOffset, long logLength, byte[]... entries) throws Exception {
        VhdxHeader h = new VhdxHeader(9, UUID.randomUUID(), UUID.randomUUID(), guid, 0, 1, logLength, logOffset);
        TestImages.poke(img, Layout.HEADER1_OFFSET, h.encode());
        TestImages.poke(img, Layout.HEADER2_OFFSET, h.encode());
        long at = logOffset;
        for (byte[] e : entries) {
            TestImages.poke(img, at, e);
            at += e.length;
        }
    }

    private long fileSize() throws Exception {
        return Files.size(img);
    }

    /** An entry of one zero descriptor. */
    private byte[] zeroEntry(long fileOffset, long length, long flushed, long last) {
        byte[] bytes = new byte[Layout.LOG_SECTOR];
        new LogEntryHeader(0, bytes.length, 0, 1, 1, guid, flushed, last).encodeInto(bytes);
        new LogDescriptor(true, fileOffset, length, 0, 0, 1).encodeInto(bytes, LogEntryHeader.SIZE);
        Crc.seal(bytes, 0, bytes.length, LogEntryHeader.CHECKSUM_OFFSET);
        return bytes;
    }

    /** Opens read-write and expects a refusal naming the cause; the file is unchanged byte for byte. */
    private String refusedUntouched() throws Exception {
        byte[] before = Files.readAllBytes(img);
        ImageException e = assertThrows(ImageException.class, () -> VhdxImage.open(img, ImageOptions.defaults()).close());
        assertTrue(e.getMessage().startsWith(img.toString()), e.getMessage());
        assertEquals(before.length, fileSize(), "file size unchanged");
        assertArrayEquals(before, Files.readAllBytes(img), "file content unchanged");
        return e.getMessage();
    }

    @Test
    void dataDescriptorAtOneTebibyteIsRefused() throws Exception {
        long size = fileSize();
        byte[] e = LogEntry.encode(1, 0, guid, size, (1L << 40) + Layout.LOG_SECTOR,
                List.of(new SectorUpdate(1L << 40, new byte[Layout.LOG_SECTOR])));
        pendingLog(LOG, Layout.MIB, e);
        String m = refusedUntouched();
        assertTrue(m.contains("LastFileOffset " + ((1L << 40) + Layout.LOG_SECTOR) + " would extend the file from " + size), m);
    }

    @Test
    void lastFileOffsetBeyondTheGrowthCapIsRefused() throws Exception {
        long size = fileSize();
        long last = size + LogReplay.MAX_REPLAY_GROWTH + Layout.MIB;
        byte[] e = LogEntry.encode(1, 0, guid, size, last, List.of(new SectorUpdate(BAT, new byte[Layout.LOG_SECTOR])));
        pendingLog(LOG, Layout.MIB, e);
        String m = refusedUntouched();
        assertTrue(m.contains("more than the " + LogReplay.MAX_REPLAY_GROWTH), m);
    }

    @Test
    void hugeZeroDescriptorIsRefused() throws Exception {
        long size = fileSize();
        pendingLog(LOG, Layout.MIB, zeroEntry(BAT, 1L << 40, size, BAT + (1L << 40)));
        String m = refusedUntouched();
        assertTrue(m.contains("LastFileOffset " + (BAT + (1L << 40)) + " would extend"), m);
        // Without a LastFileOffset to match, the range itself is out of bounds.
        pendingLog(LOG, Layout.MIB, zeroEntry(BAT, 1L << 40, size, size));
        m = refusedUntouched();
        assertTrue(m.contains("log descriptor writes [" + BAT + ", " + (BAT + (1L << 40)) + ")"), m);
    }

    @Test
    void descriptorInTheReservedPartOfTheHeaderSectionIsRefused() throws Exception {
        long size = fileSize();
        long reserved = Layout.REGION_TABLE2_OFFSET + Layout.REGION_TABLE_SIZE;
        byte[] e = LogEntry.encode(1, 0, guid, size, size, List.of(new SectorUpdate(reserved, new byte[Layout.LOG_SECTOR])));
        pendingLog(LOG, Layout.MIB, e);
        String m = refusedUntouched();
        assertTrue(m.contains("log descriptor writes [" + reserved + ", " + (reserved + Layout.LOG_SECTOR) + ")"), m);
    }

    @Test
    void growthWithinTheCapIsReplayed() throws Exception {
        long size = fileSize();
        long last = size + LogReplay.MAX_REPLAY_GROWTH;
        byte[] page = new byte[Layout.LOG_SECTOR];
        Arrays.fill(page, (byte) 0x33);
        byte[] e = LogEntry.encode(1, 0, guid, size, last, List.of(new SectorUpdate(last - Layout.LOG_SECTOR, page)));
        pendingLog(LOG, Layout.MIB, e);
        VhdxImage.open(img, ImageOptions.defaults()).close();
        assertEquals(last, fileSize());
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            byte[] back = new byte[Layout.LOG_SECTOR];
            f.seek(last - Layout.LOG_SECTOR);
            f.readFully(back);
            assertArrayEquals(page, back);
        }
    }

    @Test
    void zeroDescriptorInsideTheFileZeroesItsRange() throws Exception {
        long size = fileSize();
        byte[] ones = new byte[2 * Layout.LOG_SECTOR];
        Arrays.fill(ones, (byte) 0xff);
        long target = size - 4 * Layout.LOG_SECTOR;
        TestImages.poke(img, target, ones);
        pendingLog(LOG, Layout.MIB, zeroEntry(target, Layout.LOG_SECTOR, size, size));
        VhdxImage.open(img, ImageOptions.defaults()).close();
        byte[] after = Files.readAllBytes(img);
        assertArrayEquals(new byte[Layout.LOG_SECTOR], Arrays.copyOfRange(after, (int) target, (int) target + Layout.LOG_SECTOR));
        assertArrayEquals(Arrays.copyOf(ones, Layout.LOG_SECTOR),
                Arrays.copyOfRange(after, (int) target + Layout.LOG_SECTOR, (int) target + 2 * Layout.LOG_SECTOR));
        assertEquals(size, after.length);
    }

    /**
     * A header naming a log far past the end of the file, with no entries to replay: the first
     * write logged there and made the file 8 TiB long.
     */
    @Test
    void logOutsideTheFileIsRefusedBeforeAnyWrite() throws Exception {
        long far = 8L << 40;
        VhdxHeader h = new VhdxHeader(9, UUID.randomUUID(), UUID.randomUUID(), MsGuid.ZERO, 0, 1, Layout.MIB, far);
        TestImages.poke(img, Layout.HEADER1_OFFSET, h.encode());
        TestImages.poke(img, Layout.HEADER2_OFFSET, h.encode());
        String m = refusedUntouched();
        assertTrue(m.contains("log [" + far + ", +" + Layout.MIB + ") lies past the end of the file"), m);
    }

    /**
     * One-sector entries with consecutive sequence numbers filling a ring whose first sector is
     * not an entry, each naming that sector as its tail: every start position walks the rest of
     * the ring and finds no complete sequence, which made the search quadratic in the log size.
     */
    @Test
    void walkingTheRingFromEverySectorRunsOutOfBudget() throws Exception {
        long logLength = 16 * Layout.MIB;
        img = dir.resolve("big-log.vhdx");
        VhdxCreator.create(img).size(16L << 20).blockSize(1 << 20).logSize(logLength).write();
        int sectors = (int) (logLength / Layout.LOG_SECTOR);
        byte[] log = new byte[(int) logLength];
        for (int i = 1; i < sectors; i++) {
            byte[] e = LogEntry.encode(i, 0, guid, 0, 0, List.of());
            System.arraycopy(e, 0, log, i * Layout.LOG_SECTOR, e.length);
        }
        pendingLog(LOG, logLength, log);
        String m = refusedUntouched();
        assertTrue(m.contains("log search"), m);
    }
}
