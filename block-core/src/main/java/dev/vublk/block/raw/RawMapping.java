package dev.vublk.block.raw;

import dev.vublk.block.ClearStep;
import dev.vublk.block.Mapping;
import dev.vublk.block.MappingRuns;
import dev.vublk.block.WriteStep;
import dev.vublk.block.storage.Storage;
import dev.vublk.block.storage.Volume;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * RAW is the identity mapping: guest offset = file offset, every write in place, discard and
 * write-zeroes zero the file's range (a hole when space may go). On a probed image, writes
 * reaching into the first sector are inspected by the {@link FirstSectorGuard} on the engine's
 * private copy.
 */
final class RawMapping implements Mapping {
    private final RawImage image;
    private final Volume storage;
    private final List<Storage> dataStorages;
    /** Null unless the format was probed. */
    private final FirstSectorGuard guard;

    RawMapping(RawImage image, Volume storage, FirstSectorGuard guard) {
        this.image = image;
        this.storage = storage;
        this.dataStorages = List.of(storage);
        this.guard = guard;
    }

    @Override
    public boolean writable() {
        return !image.readOnly() && storage.writable();
    }

    @Override
    public void lookup(long offset, long length, MappingRuns out) {
        out.data(offset, length, storage, offset);
    }

    @Override
    public void planWrite(long pos, long end, WriteStep step) {
        step.inPlace(end, storage, pos, -1);
        // The whole write is inspected, not just its first sector: a refused write changes nothing.
        step.inspect = guard != null && pos < FirstSectorGuard.GUARDED_BYTES;
    }

    @Override
    public boolean admits(long guestOffset, MemorySegment data) {
        return guard == null || !guard.refuses(guestOffset, data);
    }

    @Override
    public void planClear(long pos, long end, boolean discard, boolean mayUnmap, ClearStep step) {
        step.zeroStorage(end, storage, pos, discard || mayUnmap, -1);
    }


    @Override
    public List<Storage> dataStorages() {
        return dataStorages;
    }
}
