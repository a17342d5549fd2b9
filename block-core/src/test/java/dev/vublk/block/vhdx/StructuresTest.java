package dev.vublk.block.vhdx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** Round trips and validation of the on-disk records, and the log search on crafted rings. */
class StructuresTest {
    @Test
    void guidUsesMixedEndianLayout() {
        ByteBuffer b = ByteBuffer.allocate(16);
        MsGuid.write(b, 0, KnownGuids.BAT_REGION);
        assertEquals("6677c22d23f600429d64115e9bfd4a08", java.util.HexFormat.of().formatHex(b.array()));
        assertEquals(KnownGuids.BAT_REGION, MsGuid.read(b, 0));
        assertEquals(KnownGuids.BAT_REGION, MsGuid.parseBraced(MsGuid.braced(KnownGuids.BAT_REGION).toUpperCase()));
        assertNull(MsGuid.parseBraced("{nope}"));
    }

    @Test
    void headerChecksumAndChoice() throws Exception {
        VhdxHeader h = new VhdxHeader(5, UUID.randomUUID(), UUID.randomUUID(), MsGuid.ZERO, 0, 1, 1 << 20, 1 << 20);
        byte[] enc = h.encode();
        assertEquals(h, VhdxHeader.parseOrNull(enc));
        enc[200] ^= 1;
        assertNull(VhdxHeader.parseOrNull(enc));
        VhdxHeader newer = h.next(h.fileWriteGuid(), h.dataWriteGuid(), h.logGuid());
        assertEquals(newer, VhdxHeader.choose(h, newer, java.nio.file.Path.of("x")));
        assertEquals(h, VhdxHeader.choose(h, h, java.nio.file.Path.of("x")));
    }

    @Test
    void regionTableMetadataLocatorAndBatEntries() throws Exception {
        RegionTable t = new RegionTable(List.of(new RegionTableEntry(KnownGuids.BAT_REGION, 3 << 20, 1 << 20, true)));
        assertEquals(t, RegionTable.parseOrNull(t.encode()));
        ParentLocator l = new ParentLocator(KnownGuids.VHDX_PARENT_LOCATOR_TYPE, Map.of("parent_linkage", "{00000000-0000-0000-0000-000000000001}"));
        assertEquals(l, ParentLocator.parse(l.encode(), java.nio.file.Path.of("x")));
        long raw = BatEntry.encode(BatEntry.PARTIALLY_PRESENT, 7L << 20);
        assertEquals(new BatEntry(BatEntry.PARTIALLY_PRESENT, 7), BatEntry.decode(raw));
        BatLayout dyn = BatLayout.of(10L << 30, 32 << 20, 512, false);
        assertEquals(128, dyn.chunkRatio());
        assertEquals(320 + 2, dyn.totalEntries());
        assertEquals(129, dyn.payloadIndex(128));
        BatLayout diff = BatLayout.of(10L << 30, 32 << 20, 512, true);
        assertEquals(3 * 129, diff.totalEntries());
    }

    @Test
    void logSearchPicksNewestCompleteEntryAndSurvivesTornWrites() throws Exception {
        UUID g = UUID.randomUUID();
        byte[] ring = new byte[1 << 20];
        byte[] s1 = new byte[4096], s2 = new byte[4096];
        s1[0] = 1;
        s2[0] = 2;
        byte[] e1 = LogEntry.encode(1, 0, g, 0, 5 << 20, List.of(new SectorUpdate(3 << 20, s1)));
        byte[] e2 = LogEntry.encode(2, e1.length, g, 0, 5 << 20, List.of(new SectorUpdate(3 << 20, s2)));
        System.arraycopy(e1, 0, ring, 0, e1.length);
        System.arraycopy(e2, 0, ring, e1.length, e2.length);
        List<LogEntry> active = new LogSearch(LogReplay.ringOf(ring), g).activeSequence();
        assertEquals(1, active.size());
        assertEquals(2, active.getFirst().header().sequenceNumber());
        assertEquals(2, active.getFirst().updates().getFirst()[0]);
        ring[e1.length + 4096 + 100] ^= 1; // torn data sector of the newest entry
        active = new LogSearch(LogReplay.ringOf(ring), g).activeSequence();
        assertEquals(1, active.getFirst().header().sequenceNumber());
        assertTrue(new LogSearch(LogReplay.ringOf(ring), UUID.randomUUID()).activeSequence().isEmpty(), "other GUID: nothing");
        // An entry wrapping around the end of the ring is read across the wrap.
        byte[] ring2 = new byte[1 << 20];
        long at = ring2.length - 4096;
        for (int i = 0; i < e1.length; i++) {
            ring2[(int) ((at + i) % ring2.length)] = LogEntry.encode(3, at, g, 0, 5 << 20, List.of(new SectorUpdate(3 << 20, s1)))[i];
        }
        assertEquals(3, new LogSearch(LogReplay.ringOf(ring2), g).activeSequence().getFirst().header().sequenceNumber());
    }
}
