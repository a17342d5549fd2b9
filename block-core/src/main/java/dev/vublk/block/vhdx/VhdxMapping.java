package dev.vublk.block.vhdx;

import dev.vublk.block.ClearStep;
import dev.vublk.block.Mapping;
import dev.vublk.block.MappingRuns;
import dev.vublk.block.MetadataWrites;
import dev.vublk.block.Pending;
import dev.vublk.block.WriteBackStep;
import dev.vublk.block.WriteStep;
import dev.vublk.block.storage.Storage;
import java.io.IOException;
import java.util.List;

/**
 * The VHDX mapping of one queue. Lookups resolve through the BAT, the sector bitmaps and the
 * parent chain without a lock. A write goes in place, block by block, after giving a block
 * without data its space (through the log, before the data is written: new space reads as
 * zeros; for a dynamic disk the log is written on the queue's ring, a {@link BlockAllocation},
 * and requests needing another change meanwhile wait for it); in a partially present block the written sectors are marked present once their data
 * is down, which is what the step's token (the block) asks of {@link #written}. Discard and
 * write-zeroes follow {@link ClearPolicy}.
 */
final class VhdxMapping implements Mapping {
    private final VhdxImage image;
    private final VhdxMetadata meta;
    private final Storage data;
    private final List<Storage> dataStorages;
    private final Extent extent = new Extent();
    private final WriteBackStep allocation = new WriteBackStep();

    VhdxMapping(VhdxImage image) {
        this.image = image;
        this.meta = image.metadata();
        this.data = image.dataStorage();
        this.dataStorages = List.of(data);
    }

    @Override
    public boolean writable() {
        return !image.readOnly();
    }

    @Override
    public void lookup(long offset, long length, MappingRuns out) throws IOException {
        for (long pos = 0; pos < length; ) {
            image.resolve(offset + pos, length - pos, extent);
            long n = extent.length;
            if (n <= 0) {
                throw new IOException("range ends past the disk (resized meanwhile?)");
            }
            if (extent.kind == Extent.DATA) {
                out.data(offset + pos, n, extent.storage, extent.hostOffset);
            } else {
                out.zero(offset + pos, n);
            }
            pos += n;
        }
    }

    @Override
    public void planWrite(long pos, long end, WriteStep step) throws IOException {
        meta.beginWrites();
        long bs = meta.blockSize();
        long block = pos / bs;
        long inBlock = pos % bs;
        long len = Math.min(end - pos, bs - inBlock);
        long raw = meta.payloadEntry(block);
        if (!BatEntry.hasData(BatEntry.state(raw))) {
            if (meta.differencing()) {
                // A differencing disk's sector marks go through the log from written(), which
                // cannot wait: its allocations stay synchronous, so its log has one writer.
                raw = meta.allocate(block);
            } else {
                meta.beginAllocation(block, allocation);
                switch (allocation.kind) {
                    case WriteBackStep.RUN -> {
                        step.metadata(pos, allocation.writes);
                        return;
                    }
                    case WriteBackStep.WAIT -> {
                        step.waitFor(pos + len, allocation.pending);
                        return;
                    }
                    default -> raw = meta.payloadEntry(block); // another queue gave it space meanwhile
                }
            }
        }
        boolean partial = BatEntry.state(raw) == BatEntry.PARTIALLY_PRESENT;
        step.inPlace(pos + len, data, BatEntry.fileOffset(raw) + inBlock, partial ? block : -1);
    }

    /** A block's log writes on the ring are durable, or failed. */
    @Override
    public List<Runnable> writtenBack(MetadataWrites w, int result) {
        return meta.finishAllocation((BlockAllocation) w, result == 0);
    }

    @Override
    public boolean await(Pending p, Runnable waiter) {
        return meta.awaitAllocation((BlockAllocation) p, waiter);
    }

    /** Sectors of a partially present block were written or zeroed: they are now present. */
    @Override
    public void written(long block, long guestOffset, long length, boolean ok) throws IOException {
        if (ok) {
            int ls = meta.logicalSectorSize();
            long inBlock = guestOffset % meta.blockSize();
            meta.setSectorsPresent(block, inBlock / ls, length / ls, true);
        }
    }

    @Override
    public void planClear(long pos, long end, boolean discard, boolean mayUnmap, ClearStep step) throws IOException {
        meta.beginWrites();
        long bs = meta.blockSize();
        long block = pos / bs;
        long inBlock = pos % bs;
        long len = Math.min(end - pos, bs - inBlock);
        long stepEnd = pos + len;
        boolean whole = inBlock == 0 && (len == bs || stepEnd == image.size());
        BlockAllocation inFlight = meta.differencing() ? null : meta.allocationInFlight();
        if (inFlight != null) {
            step.waitFor(stepEnd, inFlight); // its log is being written: no other change until it is durable
            return;
        }
        long raw = meta.payloadEntry(block);
        long host = BatEntry.fileOffset(raw) + inBlock;
        switch (ClearPolicy.action(meta, BatEntry.state(raw), whole, !discard, mayUnmap)) {
            case ClearPolicy.ZERO_IN_PLACE -> step.zeroStorage(stepEnd, data, host, false, -1);
            case ClearPolicy.PUNCH -> step.zeroStorage(stepEnd, data, host, true, -1);
            case ClearPolicy.ZERO_AND_MARK -> step.zeroStorage(stepEnd, data, host, mayUnmap, block);
            case ClearPolicy.ALLOCATE_ZERO_AND_MARK -> {
                long fresh = meta.allocate(block);
                boolean partial = BatEntry.state(fresh) == BatEntry.PARTIALLY_PRESENT;
                step.zeroStorage(stepEnd, data, BatEntry.fileOffset(fresh) + inBlock, false, partial ? block : -1);
            }
            case ClearPolicy.STATE_ZERO -> {
                meta.releaseBlock(block, BatEntry.ZERO);
                step.done(stepEnd);
            }
            case ClearPolicy.STATE_UNMAPPED -> {
                meta.releaseBlock(block, BatEntry.UNMAPPED);
                step.done(stepEnd);
            }
            default -> step.done(stepEnd); // NOTHING: the range already reads as the operation allows
        }
    }


    @Override
    public List<Storage> dataStorages() {
        return dataStorages;
    }
}
