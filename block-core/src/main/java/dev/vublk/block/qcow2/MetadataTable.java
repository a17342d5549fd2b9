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
    boolean dirty;
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
        dirty = true;
    }
}
