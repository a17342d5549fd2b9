package dev.vublk.block.qcow2;

import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.invoke.VarHandle;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.StampedLock;

/**
 * Decides what writes and zeroing do to guest clusters, and changes L2 entries when they are
 * done: in-place writes, allocations with their copy-on-write range, the commit or abort of an
 * allocation, and zeroing or discarding in metadata. One allocation per guest cluster at a time:
 * anything else touching that cluster waits for it.
 */
final class ClusterWrites {
    private final QcowMetadata meta;
    private final L2Tables tables;
    private final RefcountManager refcounts;
    private final NativeFile dataFile;
    private final StampedLock lock;
    private final Lock readLock;
    private final Lock writeLock;
    private final int clusterBits;
    private final int clusterSize;
    private final boolean extended;
    private final boolean external;
    private final boolean zeroFlag;
    private final boolean hasBacking;
    private final Map<Long, PendingAllocation> pending = new HashMap<>();

    ClusterWrites(QcowMetadata meta, L2Tables tables, RefcountManager refcounts, NativeFile dataFile, QcowHeader h,
                  boolean hasBacking, StampedLock lock) {
        this.meta = meta;
        this.tables = tables;
        this.refcounts = refcounts;
        this.dataFile = dataFile;
        this.lock = lock;
        this.readLock = lock.asReadLock();
        this.writeLock = lock.asWriteLock();
        this.clusterBits = h.clusterBits();
        this.clusterSize = h.clusterSize();
        this.extended = h.extendedL2();
        this.external = h.hasDataFile();
        this.zeroFlag = h.version() >= 3;
        this.hasBacking = hasBacking;
    }

    /** Whether {@code [pos, end)} of a cluster with this entry can be overwritten where it is. */
    private boolean writableInPlace(long e, long bits, long pos, long end) {
        if (L2Entry.compressed(e) || !L2Entry.copied(e)) {
            return false;
        }
        if (L2Entry.offset(e) == 0 && !external) {
            return false;
        }
        if (!extended) {
            return (e & L2Entry.ZERO) == 0;
        }
        long clusterStart = pos & ~(long) (clusterSize - 1);
        int subSize = clusterSize / L2Entry.SUBCLUSTERS;
        long need = L2Entry.subRange((int) ((pos - clusterStart) / subSize), (int) ((end - 1 - clusterStart) / subSize));
        return (bits & need) == need;
    }

    /**
     * The fast path of a write to {@code [pos, end)} inside one guest cluster: the host offset
     * when the cluster is cached and ours (registered in {@code inflight}, see
     * {@link InflightWrites#add}), or -1 when {@link #plan} must decide. No allocation.
     *
     * <p>It first looks without locking (an optimistic read of the {@link StampedLock}): every
     * request of every queue takes this path, and even a read lock is a compare-and-set on the
     * one word all queues share, which bounces its cache line between the cores of two queue
     * threads on each request. The range is registered before the stamp is validated, with a
     * full fence between: a thread that changes the entry (and so could free the cluster) takes
     * the write lock first, so either this validation sees it and the registration is undone,
     * or that thread's later check of the registrations sees this write.
     */
    long inPlace(long pos, long end, InflightWrites inflight, int runSlot) throws IOException {
        meta.checkWritable();
        int l1Index = tables.l1Index(pos);
        long stamp = lock.tryOptimisticRead();
        if (stamp != 0) {
            long host;
            try {
                host = hostInPlace(l1Index, pos, end);
            } catch (IOException | RuntimeException torn) {
                host = -2; // read while a writer changed the tables: decide under the lock
            }
            if (host >= 0) {
                inflight.add(runSlot, host, host + (end - pos));
                VarHandle.fullFence();
                if (lock.validate(stamp)) {
                    return host;
                }
                inflight.undoAdd(runSlot, host);
            } else if (host == -1 && lock.validate(stamp)) {
                return -1;
            }
        }
        readLock.lock();
        try {
            long host = hostInPlace(l1Index, pos, end);
            if (host >= 0) {
                inflight.add(runSlot, host, host + (end - pos));
            }
            return host;
        } finally {
            readLock.unlock();
        }
    }

    /** Where {@code [pos, end)} can be written in place, or -1; reads the cached tables only. */
    private long hostInPlace(int l1Index, long pos, long end) throws IOException {
        MetadataTable t = tables.cachedOwned(l1Index);
        if (t == null) {
            return -1;
        }
        int i = tables.l2Index(pos);
        long e = tables.entry(t, i);
        if (!writableInPlace(e, tables.bitmap(t, i), pos, end)) {
            return -1;
        }
        return L2Entry.offset(e) + (pos & (clusterSize - 1));
    }

    /** The slow path of a write: loads or copies tables, allocates, or finds the cluster busy. */
    WritePlan plan(long pos, long end, InflightWrites inflight, int runSlot) throws IOException {
        meta.checkWritable();
        writeLock.lock();
        try {
            long gc = pos >>> clusterBits;
            PendingAllocation busy = pending.get(gc);
            if (busy != null) {
                return new WritePlan.Wait(busy);
            }
            MetadataTable t = tables.writable(tables.l1Index(pos), refcounts);
            int i = tables.l2Index(pos);
            long e = tables.entry(t, i);
            long bits = tables.bitmap(t, i);
            if (writableInPlace(e, bits, pos, end)) {
                long host = L2Entry.offset(e) + (pos & (clusterSize - 1));
                inflight.add(runSlot, host, host + (end - pos));
                return new WritePlan.InPlace(host);
            }
            long clusterStart = gc << clusterBits;
            long old = L2Entry.offset(e);
            boolean ownData = !L2Entry.compressed(e) && L2Entry.copied(e) && (old != 0 || external);
            long cowStart = clusterStart;
            long cowEnd = clusterStart + clusterSize;
            if (extended && (ownData || (old == 0 && !L2Entry.compressed(e)))) {
                // Only the subclusters touched change state; partial ones not yet allocated get old data copied.
                int subSize = clusterSize / L2Entry.SUBCLUSTERS;
                int first = (int) ((pos - clusterStart) / subSize);
                int last = (int) ((end - 1 - clusterStart) / subSize);
                cowStart = L2Entry.subAllocated(bits, first) ? pos : clusterStart + (long) first * subSize;
                cowEnd = L2Entry.subAllocated(bits, last) ? end : clusterStart + (long) (last + 1) * subSize;
            }
            long host;
            boolean fresh;
            if (ownData) {
                host = old; // a preallocated zero cluster or partly allocated subclusters: keep the host cluster
                fresh = false;
            } else if (external) {
                host = clusterStart; // external data files map guest offsets one to one
                fresh = false;
            } else {
                host = refcounts.allocate(1);
                fresh = true;
                if (!extended && refcounts.lastAllocationUnwritten() && readsAsZeros(e)) {
                    // The rest of the cluster reads as zeros before and after: write only the guest's bytes.
                    cowStart = pos;
                    cowEnd = end;
                }
            }
            PendingAllocation p = new PendingAllocation(gc, host, cowStart, cowEnd, clusterBits, fresh);
            pending.put(gc, p);
            return new WritePlan.Allocate(p);
        } finally {
            writeLock.unlock();
        }
    }

    /** Points the cluster at its newly written data; returns the waiters to wake. */
    List<Runnable> commit(PendingAllocation p) throws IOException {
        writeLock.lock();
        try {
            pending.remove(p.guestCluster());
            long clusterStart = p.guestCluster() << clusterBits;
            MetadataTable t = tables.writable(tables.l1Index(clusterStart), refcounts);
            int i = tables.l2Index(clusterStart);
            long e = tables.entry(t, i);
            if (extended) {
                int subSize = clusterSize / L2Entry.SUBCLUSTERS;
                long mask = L2Entry.subRange((int) ((p.cowStart() - clusterStart) / subSize),
                        (int) ((p.cowEnd() - 1 - clusterStart) / subSize));
                long bits = L2Entry.compressed(e) || (L2Entry.offset(e) != p.hostOffset() && L2Entry.offset(e) != 0)
                        ? 0 : tables.bitmap(t, i);
                bits = (bits | mask) & ~(mask << 32);
                tables.setBitmap(t, i, bits);
            }
            tables.setEntry(t, i, p.hostOffset() | L2Entry.COPIED);
            release(e, p.hostOffset());
            return p.waiters();
        } finally {
            writeLock.unlock();
        }
    }

    /** Gives up an allocation whose data write failed; returns the waiters to wake. */
    List<Runnable> abort(PendingAllocation p) {
        writeLock.lock();
        try {
            pending.remove(p.guestCluster());
            if (p.newCluster()) {
                try {
                    refcounts.adjust(p.hostOffset() >>> clusterBits, -1); // never referenced by any L2 entry
                } catch (IOException e) {
                    // Leaked at worst.
                }
            }
            return p.waiters();
        } finally {
            writeLock.unlock();
        }
    }

    /**
     * Whether a guest cluster with (standard) entry {@code e} reads as zeros: a zero cluster, or
     * one that is unallocated in an image without a backing file. Copying its old contents into a
     * new cluster that already reads as zeros would only write zeros over zeros: for a 4 KiB
     * write into a 64 KiB cluster, 15 of every 16 bytes written.
     */
    private boolean readsAsZeros(long e) {
        if (L2Entry.compressed(e)) {
            return false;
        }
        if (zeroFlag && (e & L2Entry.ZERO) != 0) {
            return true;
        }
        return L2Entry.offset(e) == 0 && !hasBacking;
    }

    /** Frees, after the next flush, what entry {@code old} referenced unless it is still {@code keep}. */
    void release(long old, long keep) {
        if (L2Entry.compressed(old)) {
            refcounts.freeLater(L2Entry.compressedOffset(old, clusterBits), L2Entry.compressedLength(old, clusterBits));
            return;
        }
        long off = L2Entry.offset(old);
        if (off != 0 && off != keep && !external) {
            refcounts.freeLater(off, clusterSize);
        }
    }

    /**
     * Makes {@code [pos, end)} of one cluster read as zeros ({@code discard} false) or let the
     * image forget it ({@code discard} true). The range is a whole cluster, or whole subclusters
     * with extended L2. Returns DONE, WAIT, or WRITE_ZEROS when only a data write can do it.
     *
     * <p>A discard over a backing file makes the range read as zeros, not as the backing file:
     * falling through would bring back data the guest has since overwritten. Version 2 images
     * have no zero flag, so there the discard is ignored, which virtio allows.
     */
    WritePlan zero(long pos, long end, boolean discard, boolean unmap) throws IOException {
        meta.checkWritable();
        writeLock.lock();
        try {
            PendingAllocation busy = pending.get(pos >>> clusterBits);
            if (busy != null) {
                return new WritePlan.Wait(busy);
            }
            if (discard && hasBacking) {
                if (zeroFlag) {
                    zeroLocked(pos, end, false, true); // WRITE_ZEROS here: ignore the discard instead
                }
                return WritePlan.DONE;
            }
            return zeroLocked(pos, end, discard, unmap);
        } finally {
            writeLock.unlock();
        }
    }

    private WritePlan zeroLocked(long pos, long end, boolean discard, boolean unmap) throws IOException {
        int l1Index = tables.l1Index(pos);
        long clusterStart = pos & -(long) clusterSize;
        boolean whole = pos == clusterStart && end == clusterStart + clusterSize;
        if (discard && tables.l2Offset(l1Index) == 0) {
            return WritePlan.DONE;
        }
        if (!discard && !zeroFlag && hasBacking) {
            return WritePlan.WRITE_ZEROS; // v2 has no zero flag: only written zeros hide the backing file
        }
        MetadataTable t = tables.writable(l1Index, refcounts);
        int i = tables.l2Index(pos);
        long e = tables.entry(t, i);
        if (!extended) {
            boolean useZeroFlag = !discard && zeroFlag;
            long keep = useZeroFlag && !unmap && !L2Entry.compressed(e) && L2Entry.copied(e) && L2Entry.offset(e) != 0
                    ? L2Entry.offset(e) | L2Entry.COPIED : 0;
            long updated = useZeroFlag ? keep | L2Entry.ZERO : 0;
            if (updated != e) {
                tables.setEntry(t, i, updated);
                release(e, L2Entry.offset(keep));
                punchExternal(e, keep);
            }
            return WritePlan.DONE;
        }
        long bits = tables.bitmap(t, i);
        boolean ownData = !L2Entry.compressed(e) && L2Entry.copied(e);
        if (whole && (unmap || discard || !ownData)) {
            tables.setEntry(t, i, 0);
            tables.setBitmap(t, i, discard ? 0 : L2Entry.ALL_ZERO);
            release(e, 0);
            punchExternal(e, 0);
            return WritePlan.DONE;
        }
        if (!ownData && (L2Entry.compressed(e) || L2Entry.offset(e) != 0)) {
            return discard ? WritePlan.DONE : WritePlan.WRITE_ZEROS;
        }
        int subSize = clusterSize / L2Entry.SUBCLUSTERS;
        long mask = L2Entry.subRange((int) ((pos - clusterStart) / subSize), (int) ((end - 1 - clusterStart) / subSize));
        bits &= ~mask;
        bits = discard ? bits & ~(mask << 32) : bits | (mask << 32);
        tables.setBitmap(t, i, bits);
        return WritePlan.DONE;
    }

    /** External data files have no refcounts: give the space back right away. */
    private void punchExternal(long old, long keep) {
        if (!external || !L2Entry.copied(old) || L2Entry.offset(keep) != 0) {
            return;
        }
        try {
            dataFile.punchHole(L2Entry.offset(old), clusterSize);
        } catch (IOException e) {
            // Holes are an optimisation only.
        }
    }

    /** Registers a waiter on an allocation; false if it already committed (retry at once). */
    boolean await(PendingAllocation p, Runnable waiter) {
        writeLock.lock();
        try {
            if (pending.get(p.guestCluster()) != p) {
                return false;
            }
            p.waiters().add(waiter);
            return true;
        } finally {
            writeLock.unlock();
        }
    }
}
