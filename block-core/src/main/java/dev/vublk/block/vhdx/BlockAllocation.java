package dev.vublk.block.vhdx;

import dev.vublk.block.MetadataWrites;
import dev.vublk.block.storage.FileStorage;
import dev.vublk.block.storage.Storage;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Dynamic disk blocks getting file space (all those asked for meanwhile, up to
 * {@link VhdxMetadata#MAX_BLOCKS_PER_ALLOCATION}), written through the log on a queue's ring: for
 * each log entry one stage writes the entry and syncs, the next writes its sectors in place and
 * syncs, which is the order a synchronous commit keeps. Only when every stage is durable does
 * the BAT in memory point at the new space ({@link VhdxMetadata#finishAllocation}). One at a
 * time per image; requests needing any other metadata change wait for it.
 */
final class BlockAllocation implements MetadataWrites {
    final List<Long> blocks;
    final long[] newRaws;
    /** Where its space begins: the end of the file's used space when it started. */
    final long fileStart;
    final long fileEnd;
    final Thread owner = Thread.currentThread();
    final List<Runnable> waiters = new ArrayList<>();
    private final FileStorage storage;
    private final List<long[]> offsets = new ArrayList<>();
    private final List<MemorySegment[]> data = new ArrayList<>();
    private final Arena arena = Arena.ofShared();
    /** The log writer's crash point, run when an entry is durable and before its sectors go in place. */
    private final Runnable afterEntryDurable;
    /** Stages durable so far: 0 means nothing of it can ever be replayed or found in place. */
    private int durableStages;

    BlockAllocation(List<Long> blocks, long[] newRaws, long fileStart, long fileEnd, FileStorage storage, List<LogWriter.Entry> entries,
                    Runnable afterEntryDurable) {
        this.afterEntryDurable = afterEntryDurable;
        this.blocks = blocks;
        this.newRaws = newRaws;
        this.fileStart = fileStart;
        this.fileEnd = fileEnd;
        this.storage = storage;
        for (LogWriter.Entry e : entries) {
            MemorySegment[] pieces = new MemorySegment[e.pieces().length];
            for (int i = 0; i < pieces.length; i++) {
                pieces[i] = copy(e.pieces()[i]);
            }
            offsets.add(e.logOffsets());
            data.add(pieces);
            long[] at = new long[e.updates().size()];
            MemorySegment[] sectors = new MemorySegment[at.length];
            for (int i = 0; i < at.length; i++) {
                at[i] = e.updates().get(i).fileOffset();
                sectors[i] = copy(e.updates().get(i).data());
            }
            offsets.add(at);
            data.add(sectors);
        }
    }

    private MemorySegment copy(byte[] bytes) {
        MemorySegment seg = arena.allocate(bytes.length, 4096);
        MemorySegment.copy(bytes, 0, seg, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return seg;
    }

    @Override
    public int stages() { return data.size(); }

    @Override
    public Storage storage(int stage) { return storage; }

    @Override
    public int writes(int stage) { return data.get(stage).length; }

    @Override
    public long offset(int stage, int write) { return offsets.get(stage)[write]; }

    @Override
    public MemorySegment data(int stage, int write) { return data.get(stage)[write]; }

    boolean covers(long block) {
        return blocks.contains(block);
    }

    /** Stages alternate: an entry (even), then its sectors in place (odd). */
    @Override
    public void stageDurable(int stage) {
        durableStages = stage + 1;
        if (stage % 2 == 0) {
            afterEntryDurable.run();
        }
    }

    int durableStages() {
        return durableStages;
    }

    /** Frees the copies; every stage has completed. */
    void release() {
        arena.close();
    }
}
