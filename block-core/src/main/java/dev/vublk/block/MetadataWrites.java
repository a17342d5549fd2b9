package dev.vublk.block;

import dev.vublk.block.storage.Storage;
import java.lang.foreign.MemorySegment;

/**
 * Metadata a format hands the engine to write, in ordered stages: the writes of one stage may go
 * at once and in any order, and the stage's storage is synced before the next stage starts, so a
 * crash leaves every stage either before or after each sync point the format's order relies on.
 * A stage may have no writes (a sync alone, e.g. of the data before the tables pointing at it).
 * The data stays valid until the format hears {@link Mapping#writtenBack}.
 */
public interface MetadataWrites extends Pending {
    int stages();

    /** The storage written and then synced in {@code stage}. */
    Storage storage(int stage);

    int writes(int stage);

    long offset(int stage, int write);

    /** Native memory holding the bytes of one write. */
    MemorySegment data(int stage, int write);

    /** Stage {@code stage} is durable and the next has not started. */
    default void stageDurable(int stage) {}
}
