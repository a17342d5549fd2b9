package dev.vublk.vhost.blk;

import dev.vublk.block.BlockWorker;

/**
 * What a request needs from the queue it belongs to: the queue thread in production, a stand-in
 * in parser tests and the fuzz target, so a request can be parsed and run without a live ring.
 */
interface RequestOwner {
    /** The queue index, for log messages. */
    int index();

    /** The image worker on the queue's ring. */
    BlockWorker worker();

    /** Whether requests must record the guest ranges they write (see {@link BlkRequest#recordWritable}). */
    boolean logsWrites();

    /** Called once per started request, with its status; an errno is only for logging. */
    void finish(BlkRequest r, byte status, int errno);

    /** Completes a chain that never became a request (malformed): used length 0, nothing written. */
    void discardChain(int head);

    /** Returns a request that was never started to the pool. */
    void releaseUnstarted(BlkRequest r);
}
