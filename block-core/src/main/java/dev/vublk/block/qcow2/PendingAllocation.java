package dev.vublk.block.qcow2;

import dev.vublk.block.Allocation;
import java.util.ArrayList;
import java.util.List;

/**
 * A guest cluster whose new data is being written before its L2 entry is updated. While one
 * exists, every other write or zeroing of that cluster waits for it (and then looks the cluster up
 * again), which is what makes two queues allocating the same cluster end with one allocation.
 * Records compare by value: callers tell allocations apart by identity.
 *
 * @param guestCluster the guest cluster index
 * @param hostOffset   the host cluster receiving the data
 * @param cowStart     first guest byte the writer must fill (guest data plus copied old data)
 * @param cowEnd       end of that range
 * @param hostStart    where {@code cowStart} lands: {@code hostOffset} plus its offset in the cluster
 * @param newCluster   whether {@code hostOffset} was freshly allocated (freed again on failure)
 */
public record PendingAllocation(long guestCluster, long hostOffset, long cowStart, long cowEnd, long hostStart,
                                boolean newCluster, List<Runnable> waiters) implements Allocation {
    PendingAllocation(long guestCluster, long hostOffset, long cowStart, long cowEnd, int clusterBits, boolean newCluster) {
        this(guestCluster, hostOffset, cowStart, cowEnd, hostOffset + (cowStart - (guestCluster << clusterBits)), newCluster,
                new ArrayList<>());
    }

    @Override
    public long fillStart() {
        return cowStart;
    }

    @Override
    public long fillEnd() {
        return cowEnd;
    }
}
