package dev.vublk.block.qcow2;

import dev.vublk.block.Allocation;
import dev.vublk.block.ClearStep;
import dev.vublk.block.Mapping;
import dev.vublk.block.MappingRuns;
import dev.vublk.block.MetadataWrites;
import dev.vublk.block.Pending;
import dev.vublk.block.WriteBackStep;
import dev.vublk.block.WriteStep;
import dev.vublk.block.storage.Storage;
import dev.vublk.uring.NativeException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The qcow2 mapping of one queue, over the {@link QcowMetadata} all queues share. Lookups come
 * from the L2 tables; a write to a cluster that is ours goes in place (its host range registered
 * in this queue's {@link InflightWrites} until the data is down, so no free reuses it under the
 * write); anything else becomes an allocation the engine fills with copy-on-write data and
 * commits, or a wait on another queue's allocation of the same cluster.
 */
final class QcowMapping implements Mapping {
    private final QcowMetadata meta;
    private final InflightWrites inflight;
    private final Decompressor decompressor;
    private final List<Storage> dataStorages;
    private final int clusterSize;
    private final long zeroUnit;

    QcowMapping(QcowMetadata meta) {
        this.meta = meta;
        this.inflight = meta.dataFile().writable() ? meta.newInflightWrites() : new InflightWrites();
        this.decompressor = new Decompressor(meta.header().compressionType());
        this.dataStorages = List.of(meta.dataStorage());
        this.clusterSize = meta.clusterSize();
        this.zeroUnit = meta.header().extendedL2() ? clusterSize / L2Entry.SUBCLUSTERS : clusterSize;
    }

    @Override
    public boolean writable() {
        return meta.dataFile().writable();
    }

    @Override
    public void lookup(long offset, long length, MappingRuns out) throws IOException {
        meta.map(offset, length, out);
    }

    /** One cluster at most per step: in place when the cluster is ours, else as the metadata plans it. */
    @Override
    public void planWrite(long pos, long end, WriteStep step) throws IOException {
        long clusterEnd = Math.min(end, (pos & -(long) clusterSize) + clusterSize);
        int runSlot = (int) step.token;
        boolean mayWriteBack = !step.metadataDone;
        long host = meta.inPlace(pos, clusterEnd, inflight, runSlot);
        if (host >= 0) {
            step.inPlace(clusterEnd, meta.dataStorage(), host, inflight.lastSlot());
            return;
        }
        if (mayWriteBack && meta.needsWriteBack()) {
            step.writeBackFirst(pos);
            return;
        }
        if (!step.metadataDone && fetchFirst(pos, step)) {
            return;
        }
        switch (meta.planWrite(pos, clusterEnd, inflight, runSlot)) {
            case WritePlan.InPlace(long h) -> step.inPlace(clusterEnd, meta.dataStorage(), h, inflight.lastSlot());
            case WritePlan.Allocate(PendingAllocation a) -> step.allocate(clusterEnd, meta.dataStorage(), a);
            case WritePlan.Wait(PendingAllocation a) -> step.waitFor(clusterEnd, a);
            case WritePlan plan -> throw new IllegalStateException("unexpected write plan " + plan);
        }
    }

    /** Asks for the L2 table of {@code pos} on the ring if it is allocated but not cached. */
    private boolean fetchFirst(long pos, WriteStep step) throws IOException {
        long table = meta.l2ToFetch(pos);
        if (table < 0) {
            return false;
        }
        step.fetch(pos, meta.imageStorage(), table, clusterSize, meta.fetchToken(pos));
        return true;
    }

    @Override
    public void fetched(long host, long token, MemorySegment data) throws IOException {
        meta.fetched(host, token, data);
    }

    /** The in-place write registered in slot {@code token} is over: frees of its clusters may go ahead. */
    @Override
    public void written(long token, long guestOffset, long length, boolean ok) {
        inflight.remove((int) token);
    }

    @Override
    public List<Runnable> commit(Allocation a) throws IOException {
        return meta.commit((PendingAllocation) a);
    }

    @Override
    public List<Runnable> abort(Allocation a) {
        return meta.abort((PendingAllocation) a);
    }

    @Override
    public boolean await(Pending p, Runnable waiter) {
        return p instanceof MetadataFlusher.WriteBack wb ? meta.awaitWriteBack(wb, waiter) : meta.await((PendingAllocation) p, waiter);
    }

    /**
     * Whole clusters (subclusters with extended L2) change in metadata only. The partial ones at
     * either end are written as zeros for write-zeroes and left alone for a discard, which virtio
     * allows: a discard never changes data it does not cover completely.
     */
    @Override
    public void planClear(long pos, long end, boolean discard, boolean mayUnmap, ClearStep step) throws IOException {
        long clusterEnd = Math.min(end, (pos & -(long) clusterSize) + clusterSize);
        long a = Math.min(clusterEnd, (pos + zeroUnit - 1) & -zeroUnit);
        long b = Math.max(a, clusterEnd & -zeroUnit);
        if (pos < a) {
            partial(a, discard, step); // a head short of a whole unit
        } else if (pos < b) {
            if (!step.metadataDone && meta.needsWriteBack()) {
                step.writeBackFirst(pos);
                return;
            }
            long table = step.metadataDone ? -1 : meta.l2ToFetch(pos);
            if (table >= 0) {
                step.fetch(pos, meta.imageStorage(), table, clusterSize, meta.fetchToken(pos));
                return;
            }
            switch (meta.zero(pos, b, discard, mayUnmap)) {
                case WritePlan.Wait(PendingAllocation p) -> step.waitFor(b, p);
                case WritePlan.WriteZeros z -> step.writeZeros(b);
                default -> step.done(b);
            }
        } else {
            partial(clusterEnd, discard, step); // a tail short of a whole unit
        }
    }

    private static void partial(long end, boolean discard, ClearStep step) {
        if (discard) {
            step.done(end);
        } else {
            step.writeZeros(end);
        }
    }

    @Override
    public int compressedUnit() {
        return clusterSize;
    }

    @Override
    public boolean inflate(MemorySegment in, MemorySegment out) {
        return decompressor.decompress(in.asByteBuffer(), out.asByteBuffer());
    }

    /** Tables in dependency order, see {@link MetadataFlusher}; the engine writes them on its ring. */
    @Override
    public void beginWriteBack(WriteBackStep step) throws IOException {
        meta.beginWriteBack(step);
    }

    @Override
    public List<Runnable> writtenBack(MetadataWrites w, int result) {
        return meta.writtenBack((MetadataFlusher.WriteBack) w,
                result == 0 ? null : new NativeException("metadata write-back on the queue's ring", -result));
    }

    @Override
    public List<Storage> dataStorages() {
        return dataStorages;
    }

    @Override
    public void close() {
        meta.forget(inflight);
        decompressor.close();
    }
}
