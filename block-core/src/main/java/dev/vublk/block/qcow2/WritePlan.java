package dev.vublk.block.qcow2;

/** What a write to one guest cluster has to do, as decided by {@link QcowMetadata#planWrite}. */
sealed interface WritePlan {
    /** The cluster is allocated and exclusively ours: write the guest data at {@code hostOffset}. */
    record InPlace(long hostOffset) implements WritePlan {}

    /** Fill the allocation's range (guest data plus copy-on-write data), then commit it. */
    record Allocate(PendingAllocation allocation) implements WritePlan {}

    /** Another request is allocating this cluster: retry once it has committed. */
    record Wait(PendingAllocation allocation) implements WritePlan {}

    /** Zeroing could not be done in metadata alone: write zeros through the data path. */
    record WriteZeros() implements WritePlan {}

    /** Nothing left to do. */
    record Done() implements WritePlan {}

    WritePlan DONE = new Done();
    WritePlan WRITE_ZEROS = new WriteZeros();
}
