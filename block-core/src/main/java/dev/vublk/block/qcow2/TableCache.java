package dev.vublk.block.qcow2;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Cluster-sized metadata tables by host offset, in an open-addressing hash table keyed by the
 * offset itself: a lookup neither boxes nor allocates. Lookups run under the metadata read lock
 * (nobody writes meanwhile); insertions and evictions under the write lock. Eviction is a
 * second-chance sweep over clean tables only: dirty ones leave the cache only after the flusher
 * wrote them, so an update can never be lost by eviction. Dirty tables are counted as they
 * change, and the metadata writes them back once the cache is full and they fill half of it
 * ({@link #needsWriteBack}), so eviction always finds a clean table and the cache stays at its
 * capacity (plus the few tables operations in flight dirty past the check).
 */
final class TableCache {
    interface Loader {
        byte[] load(long offset) throws IOException;
    }

    private final int capacity;
    /** Offsets are cluster-aligned and never 0 for a table, so 0 marks an empty slot. */
    private long[] keys;
    private MetadataTable[] values;
    private int count;
    private int dirtyCount;
    private int sweep;

    TableCache(int capacity) {
        this.capacity = Math.max(4, capacity);
        this.keys = new long[64]; // grows with the tables held, not with the budget
        this.values = new MetadataTable[64];
    }

    private static int hash(long offset, int mask) {
        long h = offset * 0x9E3779B97F4A7C15L;
        return (int) (h >>> 40) & mask;
    }

    /** The cached table or null; read lock or write lock held. */
    MetadataTable peek(long offset) {
        long[] k = keys;
        int mask = k.length - 1;
        for (int i = hash(offset, mask); k[i] != 0; i = (i + 1) & mask) {
            if (k[i] == offset) {
                MetadataTable t = values[i];
                if (!t.used) {
                    t.used = true; // written only when cleared: every queue's lookups share the table's cache line
                }
                return t;
            }
        }
        return null;
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

    /** Adds a table (new or copied), replacing one at the same offset; write lock held. */
    void insert(MetadataTable t) {
        remove(t.offset);
        if (count >= capacity) {
            evictOne();
        }
        if ((count + 1) * 2 > keys.length) {
            rehash(keys.length * 2); // the arrays grow with the tables held, not with the budget
        }
        put(t);
    }

    private void put(MetadataTable t) {
        int mask = keys.length - 1;
        int i = hash(t.offset, mask);
        while (keys[i] != 0) {
            i = (i + 1) & mask;
        }
        keys[i] = t.offset;
        values[i] = t;
        count++;
        t.owner = this;
        if (t.dirty()) {
            dirtyCount++;
        }
    }

    private void rehash(int slots) {
        MetadataTable[] old = values;
        keys = new long[slots];
        values = new MetadataTable[slots];
        count = 0;
        dirtyCount = 0;
        for (MetadataTable t : old) {
            if (t != null) {
                put(t);
            }
        }
    }

    void remove(long offset) {
        int mask = keys.length - 1;
        for (int i = hash(offset, mask); keys[i] != 0; i = (i + 1) & mask) {
            if (keys[i] == offset) {
                removeSlot(i);
                return;
            }
        }
    }

    /** Backward-shift deletion: later entries of the probe run move up so lookups stay correct. */
    private void removeSlot(int slot) {
        MetadataTable removed = values[slot];
        if (removed.dirty()) {
            dirtyCount--;
        }
        removed.owner = null;
        int mask = keys.length - 1;
        int hole = slot;
        for (int i = (slot + 1) & mask; keys[i] != 0; i = (i + 1) & mask) {
            int home = hash(keys[i], mask);
            boolean movable = hole <= i ? (home <= hole || home > i) : (home <= hole && home > i);
            if (movable) {
                keys[hole] = keys[i];
                values[hole] = values[i];
                hole = i;
            }
        }
        keys[hole] = 0;
        values[hole] = null;
        count--;
    }

    private void evictOne() {
        int slots = keys.length;
        for (int n = 0; n < 2 * slots; n++) {
            int i = sweep & (slots - 1);
            sweep = i + 1;
            MetadataTable t = values[i];
            if (t == null || t.dirty()) {
                continue;
            }
            if (t.used) {
                t.used = false;
            } else {
                removeSlot(i);
                return;
            }
        }
        // Everything is dirty: nothing can go.
    }

    List<MetadataTable> dirty() {
        List<MetadataTable> out = new ArrayList<>();
        for (MetadataTable t : values) {
            if (t != null && t.dirty()) {
                out.add(t);
            }
        }
        return out;
    }

    int size() {
        return count;
    }

    void dirtyChanged(int delta) {
        dirtyCount += delta;
    }

    /** Tables changed and not yet taken by the flusher; counted as they change, no scan. */
    int dirtyCount() {
        return dirtyCount;
    }

    /**
     * Whether the flusher should write the dirty tables back before more are taken: the cache is
     * full (the next load must evict) and dirty tables fill half of it. Half, so that clean tables
     * (the working set of reads and in-place writes) keep the other half, and dirty ones never
     * push the cache past its budget. Only when full: while every table fits, dirty ones cost no
     * room, and writing them back would only rewrite the same tables over and over (a 4 GiB image
     * has 8 L2 tables of 64 KiB, and random writes dirty all of them every few dozen writes).
     */
    boolean needsWriteBack() {
        return count >= capacity && dirtyCount * 2 >= capacity;
    }
}
