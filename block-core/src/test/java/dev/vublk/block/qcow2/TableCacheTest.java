package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The open-addressing table cache against a HashMap model: lookups, removal, eviction, growth. */
class TableCacheTest {
    private static MetadataTable table(long offset) {
        return new MetadataTable(offset, new byte[8]);
    }

    @Test
    void randomInsertsRemovesAndLookupsAgreeWithAModel() {
        TableCache cache = new TableCache(1 << 20); // large budget: nothing is evicted
        Map<Long, MetadataTable> model = new HashMap<>();
        Random rnd = new Random(7);
        for (int step = 0; step < 200_000; step++) {
            // Few distinct offsets, many collisions in probe runs, including wrap-around.
            long offset = (1 + rnd.nextInt(3000)) * 65536L;
            switch (rnd.nextInt(3)) {
                case 0 -> {
                    MetadataTable t = table(offset);
                    cache.insert(t);
                    model.put(offset, t);
                }
                case 1 -> {
                    cache.remove(offset);
                    model.remove(offset);
                }
                default -> assertSame(model.get(offset), cache.peek(offset), "offset " + offset + " at step " + step);
            }
        }
        assertEquals(model.size(), cache.size());
        for (Map.Entry<Long, MetadataTable> e : model.entrySet()) {
            assertSame(e.getValue(), cache.peek(e.getKey()));
        }
    }

    @Test
    void evictsCleanTablesOnlyAndGrowsWhenEverythingIsDirty() {
        TableCache cache = new TableCache(8);
        for (int i = 1; i <= 8; i++) {
            MetadataTable t = table(i * 512L);
            if (i <= 4) {
                t.markDirty();
            }
            cache.insert(t);
        }
        for (int i = 9; i <= 12; i++) {
            cache.insert(table(i * 512L));
        }
        assertEquals(8, cache.size());
        for (int i = 1; i <= 4; i++) {
            assertTrue(cache.peek(i * 512L).dirty(), "dirty table " + i + " must stay");
        }
        // Dirty beyond the budget: the cache grows rather than lose an update.
        for (int i = 100; i < 200; i++) {
            MetadataTable t = table(i * 512L);
            t.markDirty();
            cache.insert(t);
        }
        assertEquals(4 + 100, cache.dirty().size());
        assertEquals(4 + 100, cache.dirtyCount());
        assertTrue(cache.needsWriteBack());
        for (MetadataTable t : cache.dirty()) {
            t.markClean();
        }
        assertEquals(0, cache.dirtyCount());
        assertTrue(!cache.needsWriteBack());
        for (int i = 100; i < 200; i++) {
            assertTrue(cache.peek(i * 512L) != null);
        }
        assertNull(cache.peek(99 * 512L));
    }

    /**
     * A cache with room left needs no write-back however many of its tables are dirty: writing
     * them back would free no room, only rewrite the same tables (the thrash of a small image
     * whose every L2 table random writes keep dirty). Once full, half dirty calls for one.
     */
    @Test
    void needsWriteBackOnlyWhenFullWithHalfDirty() {
        TableCache cache = new TableCache(16);
        for (int i = 1; i <= 15; i++) {
            MetadataTable t = table(i * 512L);
            t.markDirty();
            cache.insert(t);
        }
        assertEquals(15, cache.dirtyCount());
        assertTrue(!cache.needsWriteBack(), "15 dirty tables in a cache of 16 still leave room");
        cache.insert(table(16 * 512L));
        assertTrue(cache.needsWriteBack(), "full, with 15 of 16 dirty");
        for (int i = 1; i <= 8; i++) {
            cache.peek(i * 512L).markClean();
        }
        assertEquals(7, cache.dirtyCount());
        assertTrue(!cache.needsWriteBack(), "full, but fewer than half dirty: eviction finds clean tables");
        cache.peek(512L).markDirty();
        assertTrue(cache.needsWriteBack(), "full, with exactly half dirty");
    }

    @Test
    void getLoadsOnceAndReplacesByOffset() throws Exception {
        TableCache cache = new TableCache(16);
        int[] loads = {0};
        MetadataTable a = cache.get(4096, o -> {
            loads[0]++;
            return new byte[8];
        });
        assertSame(a, cache.get(4096, o -> {
            throw new AssertionError("loaded twice");
        }));
        MetadataTable b = table(4096);
        cache.insert(b);
        assertSame(b, cache.peek(4096));
        assertEquals(1, cache.size());
        assertEquals(1, loads[0]);
    }
}
