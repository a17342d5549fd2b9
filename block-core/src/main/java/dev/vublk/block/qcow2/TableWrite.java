package dev.vublk.block.qcow2;

/**
 * A metadata write of a write-back: bytes copied under the lock, written outside it. For a
 * cached table, {@code source} and its {@code version} at the copy: once the write is durable
 * the table is clean again unless it changed meanwhile. Until then it stays dirty, so the cache
 * never drops it and reloads the older bytes still on disk.
 */
record TableWrite(long offset, byte[] bytes, MetadataTable source, long version) {
    TableWrite(long offset, byte[] bytes) {
        this(offset, bytes, null, 0);
    }

    static TableWrite of(MetadataTable t) {
        return new TableWrite(t.offset, t.bytes.clone(), t, t.version());
    }

    /** The write is durable: the table is clean unless it changed after the copy; write lock held. */
    void landed() {
        if (source != null && source.version() == version) {
            source.markClean();
        }
    }
}
