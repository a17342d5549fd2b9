package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageException;
import dev.vublk.block.ImageOptions;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damaged images give a clear ImageException quickly. The creator's layout is known: log at
 * 1 MiB, metadata region at 2 MiB (items from +64 KiB, file parameters first), BAT at 3 MiB.
 */
class DamagedImageTest {
    static final long META = 2 << 20, BAT = 3 << 20, LOG = 1 << 20;

    @TempDir
    Path dir;
    Path img;

    @BeforeEach
    void create() throws Exception {
        img = dir.resolve("d.vhdx");
        VhdxCreator.create(img).size(16L << 20).blockSize(1 << 20).write();
    }

    private void poke(long offset, byte[] data) throws Exception {
        TestImages.poke(img, offset, data);
    }

    private static byte[] le64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, v).array();
    }

    private String refused() {
        ImageException e = assertTimeoutPreemptively(Duration.ofSeconds(10),
                () -> assertThrows(ImageException.class, () -> VhdxImage.open(img, ImageOptions.defaults()).close()));
        assertTrue(e.getMessage().startsWith(img.toString()), "names the file: " + e.getMessage());
        return e.getMessage();
    }

    private void writeRegions(RegionTableEntry... entries) throws Exception {
        byte[] t = new RegionTable(List.of(entries)).encode();
        poke(Layout.REGION_TABLE1_OFFSET, t);
        poke(Layout.REGION_TABLE2_OFFSET, t);
    }

    @Test
    void bothHeadersWithBadChecksums() throws Exception {
        poke(Layout.HEADER1_OFFSET + 100, new byte[] {1});
        poke(Layout.HEADER2_OFFSET + 100, new byte[] {1});
        assertTrue(refused().contains("both VHDX headers"));
    }

    @Test
    void oneBadHeaderAndEqualSequenceNumbersStillOpen() throws Exception {
        VhdxHeader h = new VhdxHeader(7, UUID.randomUUID(), UUID.randomUUID(), MsGuid.ZERO, 0, 1, 1 << 20, LOG);
        poke(Layout.HEADER1_OFFSET, h.encode());
        poke(Layout.HEADER2_OFFSET, h.encode());
        VhdxImage.open(img, ImageOptions.defaults().withReadOnly(true)).close();
        poke(Layout.HEADER1_OFFSET + 100, new byte[] {1});
        try (VhdxImage i = VhdxImage.open(img, ImageOptions.defaults().withReadOnly(true))) {
            assertEquals(16L << 20, i.size());
        }
    }

    @Test
    void overlappingRegions() throws Exception {
        writeRegions(new RegionTableEntry(KnownGuids.BAT_REGION, META, 1 << 20, true),
                new RegionTableEntry(KnownGuids.METADATA_REGION, META, 1 << 20, true));
        assertTrue(refused().contains("overlaps"));
    }

    @Test
    void regionPastTheEnd() throws Exception {
        writeRegions(new RegionTableEntry(KnownGuids.BAT_REGION, 1L << 40, 1 << 20, true),
                new RegionTableEntry(KnownGuids.METADATA_REGION, META, 1 << 20, true));
        assertTrue(refused().contains("past the end"));
    }

    @Test
    void unknownRequiredRegionAndMissingBat() throws Exception {
        writeRegions(new RegionTableEntry(UUID.randomUUID(), BAT, 1 << 20, true),
                new RegionTableEntry(KnownGuids.METADATA_REGION, META, 1 << 20, true));
        assertTrue(refused().contains("unknown required region"));
        writeRegions(new RegionTableEntry(KnownGuids.METADATA_REGION, META, 1 << 20, true));
        assertTrue(refused().contains("missing"));
    }

    @Test
    void absurdBlockSize() throws Exception {
        poke(META + 65536, new byte[] {0, 0, 0x30, 0}); // 3 MiB: not a power of two
        assertTrue(refused().contains("block size"));
        poke(META + 65536, new byte[] {0, 0, 0, 0x40}); // 1 GiB
        assertTrue(refused().contains("block size"));
    }

    @Test
    void batEntryOutsideTheFile() throws Exception {
        poke(BAT, le64(BatEntry.encode(BatEntry.FULLY_PRESENT, 1L << 40)));
        assertTrue(refused().contains("outside the file"));
        poke(BAT, le64(BatEntry.encode(BatEntry.FULLY_PRESENT, LOG)));
        assertTrue(refused().contains("header section") || refused().contains("overlaps"));
        poke(BAT, le64(5));
        assertTrue(refused().contains("invalid state"));
    }

    @Test
    void logThatLoopsOrPointsNowhere() throws Exception {
        UUID guid = UUID.randomUUID();
        VhdxHeader h = new VhdxHeader(9, UUID.randomUUID(), UUID.randomUUID(), guid, 0, 1, 1 << 20, LOG);
        poke(Layout.HEADER1_OFFSET, h.encode());
        poke(Layout.HEADER2_OFFSET, h.encode());
        // Two valid entries in sequence whose head names a tail outside the sequence: no complete sequence.
        byte[] sector = new byte[4096];
        long bat = BAT;
        byte[] e1 = LogEntry.encode(5, 8192 * 4, guid, 0, 5 << 20, List.of(new SectorUpdate(bat, sector)));
        byte[] e2 = LogEntry.encode(6, 8192 * 4, guid, 0, 5 << 20, List.of(new SectorUpdate(bat, sector)));
        poke(LOG, e1);
        poke(LOG + e1.length, e2);
        assertTrue(refused().contains("no valid, complete sequence"));
        // Entries chaining around the whole ring back to the start.
        for (int i = 0; i < 128; i++) {
            byte[] e = LogEntry.encode(100 + i, (i + 1) % 128 * 8192L, guid, 0, 5 << 20, List.of(new SectorUpdate(bat, sector)));
            poke(LOG + i * 8192L, e);
        }
        String m = refused();
        assertTrue(m.contains("sequence") || m.contains("log"), m);
    }

    /** Where the creator put an item, relative to the file. */
    private long itemOffset(UUID id) throws Exception {
        byte[] region;
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            region = new byte[1 << 20];
            f.seek(META);
            f.readFully(region);
        }
        return META + MetadataTable.parse(region, region.length, img).find(id).offset();
    }

    @Test
    void diskSizesBeyondTheSpecAreRefusedBeforeTheBatIsSized() throws Exception {
        long sizeItem = itemOffset(KnownGuids.VIRTUAL_DISK_SIZE);
        poke(sizeItem, le64(Layout.MAX_DISK_SIZE + 512));
        assertTrue(refused().contains("up to 64 TiB"));
        // 64 TiB is valid, but needs a BAT of 64 Mi entries where the region holds 128 Ki.
        poke(sizeItem, le64(Layout.MAX_DISK_SIZE));
        assertTrue(refused().contains("BAT region of 1048576 bytes cannot hold the 67125247 entries"));
    }

    @Test
    void sectorSizeOtherThan512Or4096() throws Exception {
        poke(itemOffset(KnownGuids.LOGICAL_SECTOR_SIZE), new byte[] {0, 4, 0, 0});
        assertTrue(refused().contains("logical sector size 1024"));
    }

    @Test
    void metadataRegionLargerThanTheCap() throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(BAT + MetadataTable.MAX_REGION + (2 << 20));
        }
        writeRegions(new RegionTableEntry(KnownGuids.BAT_REGION, BAT, 1 << 20, true),
                new RegionTableEntry(KnownGuids.METADATA_REGION, BAT + (1 << 20), MetadataTable.MAX_REGION + (1 << 20), true));
        assertTrue(refused().contains("larger than the 67108864 bytes read into memory"));
    }

    @Test
    void regionTableWithMoreThan2047Entries() throws Exception {
        byte[] t = new RegionTable(List.of(new RegionTableEntry(KnownGuids.BAT_REGION, BAT, 1 << 20, true),
                new RegionTableEntry(KnownGuids.METADATA_REGION, META, 1 << 20, true))).encode();
        ByteBuffer.wrap(t).order(ByteOrder.LITTLE_ENDIAN).putInt(8, RegionTable.MAX_ENTRIES + 1);
        Crc.seal(t, 0, t.length, 4);
        poke(Layout.REGION_TABLE1_OFFSET, t);
        poke(Layout.REGION_TABLE2_OFFSET, t);
        assertTrue(refused().contains("more than 2047 entries"));
    }

    @Test
    void metadataTableWithMoreThan2047Entries() throws Exception {
        poke(META + 10, new byte[] {(byte) 0x00, (byte) 0x08}); // 2048
        assertTrue(refused().contains("2048 entries (at most 2047)"));
    }

    @Test
    void metadataItemPastItsRegion() throws Exception {
        long entry = META + 32; // the first table entry: offset at +16, length at +20
        poke(entry + 16, new byte[] {0, 0, (byte) 0xf0, 0}); // offset 15 MiB in a 1 MiB region
        assertTrue(refused().contains("does not fit the metadata region"));
    }

    @Test
    void logLargerThan64MiB() throws Exception {
        VhdxHeader h = new VhdxHeader(9, UUID.randomUUID(), UUID.randomUUID(), UUID.randomUUID(), 0, 1,
                LogReplay.MAX_LOG + (1 << 20), LOG);
        poke(Layout.HEADER1_OFFSET, h.encode());
        poke(Layout.HEADER2_OFFSET, h.encode());
        assertTrue(refused().contains("log of 68157440 bytes is larger than the 67108864 supported"));
    }

    @Test
    void truncatedFile() throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(100_000);
        }
        refused();
    }
}
