package dev.vublk.block.qcow2;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Cluster-sized metadata tables by host offset. Lookups run under the metadata read lock (a
 * HashMap tolerates concurrent readers while nobody writes); insertions and evictions under the
 * write lock. Eviction is a second-chance sweep over clean tables only: dirty ones leave the
 * cache only after the flusher wrote them, so an update can never be lost by eviction.
 */
final class TableCache {
    interface Loader {
        byte[] load(long offset) throws IOException;
    }

    private final Map<Long, MetadataTable> tables = new HashMap<>();
    private final int capacity;

    TableCache(int capacity) {
        this.capacity = Math.max(4, capacity);
    }

    /** The cached table or null; read lock or write lock held. */
    MetadataTable peek(long offset) {
        MetadataTable t = tables.get(offset);
        if (t != null) {
            t.used = true;
        }
        return t;
    }

    /** The table, loaded synchronously on a miss; write lock held. */
    MetadataTable get(long offset, Loader loader) throws IOException {
        MetadataTable t = peek(offset);
        if (t == null) {
            t = new MetadataTable(offset, loader.load(offset));
            insert(t);
        }
        return t;
    }

    /** Adds a table (new or copied); write lock held. */
    void insert(MetadataTable t) {
        if (tables.size() >= capacity) {
            evictOne();
        }
        tables.put(t.offset, t);
    }

    void remove(long offset) {
        tables.remove(offset);
    }

    boolean full() {
        return tables.size() >= capacity && tables.values().stream().allMatch(t -> t.dirty);
    }

    private void evictOne() {
        for (int pass = 0; pass < 2; pass++) {
            Iterator<MetadataTable> it = tables.values().iterator();
            while (it.hasNext()) {
                MetadataTable t = it.next();
                if (t.dirty) {
                    continue;
                }
                if (t.used) {
                    t.used = false;
                } else {
                    it.remove();
                    return;
                }
            }
        }
        // Everything is dirty: the cache grows past its budget until the next flush.
    }

    List<MetadataTable> dirty() {
        List<MetadataTable> out = new ArrayList<>();
        for (MetadataTable t : tables.values()) {
            if (t.dirty) {
                out.add(t);
            }
        }
        return out;
    }

    int size() {
        return tables.size();
    }
}
