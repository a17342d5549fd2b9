package dev.vublk.block;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * A format's answer, for one queue, to "where is this guest range and what must a change do":
 * the only thing a format gives the queue engine, which does every transfer itself. Made by
 * {@link BlockImage#newMapping()} per queue (holding that queue's state, e.g. which clusters it
 * is writing) over metadata shared by all queues; its calls come from that queue's thread.
 *
 * <p>Each guest range becomes steps: reads resolve to runs ({@link #lookup}); a write to steps in
 * place, allocations to fill and commit, or waits on another queue's allocation
 * ({@link #planWrite}); discard and write-zeroes to metadata changes, zeroing of storage or zero
 * writes ({@link #planClear}). Metadata a step changes after its data is down is committed
 * through {@link #written} or {@link #commit}; dirty metadata is written back in ordered stages
 * the engine runs on the ring ({@link #beginWriteBack}).
 */
public interface Mapping extends AutoCloseable {
    /** Whether guest writes may change the image. */
    boolean writable();

    /**
     * Fills {@code out} with runs covering {@code [offset, offset + length)}: data in a storage,
     * zeros, the backing image's, or compressed. Lock-free where the format allows it, and
     * allocation-free once the format's caches are warm.
     */
    void lookup(long offset, long length, MappingRuns out) throws IOException;

    /**
     * Plans the write of a prefix of {@code [pos, end)} into {@code step}, which says how far the
     * prefix reaches. {@code step.token} holds, on entry, the token of the in-place run the engine
     * is building (or -1), so a format can extend that run instead of starting another.
     */
    void planWrite(long pos, long end, WriteStep step) throws IOException;

    /**
     * Metadata a lookup or step asked for ({@code fetch}) was read on the ring: the format
     * caches it, if it is still current, so the retry finds it.
     */
    default void fetched(long host, long token, MemorySegment data) throws IOException {}

    /**
     * The data of an in-place step with a token (not -1) was written ({@code ok}) or failed:
     * metadata that must follow the data is committed now.
     */
    default void written(long token, long guestOffset, long length, boolean ok) throws IOException {}

    /** Points the guest range at an allocation's freshly written data; returns waiters to run. */
    default List<Runnable> commit(Allocation a) throws IOException {
        throw new UnsupportedOperationException("no allocations in this format");
    }

    /** Gives an allocation up; returns waiters to run. */
    default List<Runnable> abort(Allocation a) {
        throw new UnsupportedOperationException("no allocations in this format");
    }

    /**
     * Runs {@code waiter} (on any thread) once {@code p} (an allocation, a write-back) is over;
     * false when it already is, and the caller retries at once.
     */
    default boolean await(Pending p, Runnable waiter) {
        return false;
    }

    /**
     * Plans discard ({@code discard}) or write-zeroes of a prefix of {@code [pos, end)}. Metadata
     * changes the format can make at once are made here; what needs I/O is described in
     * {@code step}.
     */
    void planClear(long pos, long end, boolean discard, boolean mayUnmap, ClearStep step) throws IOException;

    /**
     * Whether data about to be written at {@code guestOffset} may be (for steps marked
     * {@link WriteStep#inspect}); the engine copies it out of guest memory first so the guest
     * cannot change it between check and write.
     */
    default boolean admits(long guestOffset, MemorySegment data) {
        return true;
    }

    /** Bytes one compressed run inflates to at most (0 when the format has none). */
    default int compressedUnit() {
        return 0;
    }

    /** Inflates one compressed stream into {@code out} ({@link #compressedUnit} bytes); false if corrupt. */
    default boolean inflate(MemorySegment in, MemorySegment out) {
        return false;
    }

    /**
     * Begins writing dirty metadata back, for a FLUSH or when a step asked for it
     * ({@link WriteStep#WRITE_BACK}): the engine writes the stages on the queue's ring, so no
     * queue thread waits on metadata I/O.
     */
    default void beginWriteBack(WriteBackStep step) throws IOException {
        step.done();
    }

    /**
     * The writes of a {@link #beginWriteBack} are durable ({@code result} 0) or failed (the
     * first negative errno, so a format can tell a full disk from a failing one); returns
     * waiters to run.
     */
    default List<Runnable> writtenBack(MetadataWrites w, int result) throws IOException {
        return List.of();
    }

    /** Storages a FLUSH syncs after the metadata write-back: where this image's guest data is written. */
    List<dev.vublk.block.storage.Storage> dataStorages();

    /** Releases this queue's state; the ring has drained. */
    @Override
    default void close() {}
}
