package dev.vublk.block.qcow2;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * One cluster of metadata (an L2 table or a refcount block) as its on-disk bytes, with the
 * bookkeeping the cache needs. Contents change only under the metadata write lock; readers hold
 * the read lock, so plain fields are enough.
 */
final class MetadataTable {
    private static final VarHandle LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);

    final long offset;
    final byte[] bytes;
    private boolean dirty;
    /** Changes so far: a write-back's copy is current only while this has not moved. */
    private long version;
    /** The cache holding this table, which counts its dirty tables; null while outside one. */
    TableCache owner;
    /** Second-chance bit for eviction; set by readers without a lock, a benign race. */
    volatile boolean used = true;

    MetadataTable(long offset, byte[] bytes) {
        this.offset = offset;
        this.bytes = bytes;
    }

    long getLong(int index) {
        return (long) LONG.get(bytes, index * 8);
    }

    void setLong(int index, long value) {
        LONG.set(bytes, index * 8, value);
        markDirty();
    }

    boolean dirty() {
        return dirty;
    }

    long version() {
        return version;
    }

    /** Changed since it was last written: the cache keeps it until a copy of it is durable. */
    void markDirty() {
        version++;
        if (!dirty) {
            dirty = true;
            if (owner != null) {
                owner.dirtyChanged(1);
            }
        }
    }

    /** Its current bytes are durable. */
    void markClean() {
        if (dirty) {
            dirty = false;
            if (owner != null) {
                owner.dirtyChanged(-1);
            }
        }
    }
}
