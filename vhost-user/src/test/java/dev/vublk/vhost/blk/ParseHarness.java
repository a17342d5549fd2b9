package dev.vublk.vhost.blk;

import dev.vublk.block.BlockWorker;
import dev.vublk.virtqueue.DescriptorChain;
import dev.vublk.virtqueue.GuestMemory;
import dev.vublk.virtqueue.SplitQueue;
import dev.vublk.virtqueue.VirtqueueException;
import java.util.ArrayList;
import java.util.List;

/**
 * The queue thread's per-request path without a thread or a ring: pop a chain, parse it into a
 * pooled request, run it on a synchronous worker, and stage the used element as the thread does.
 */
final class ParseHarness implements RequestOwner {
    /** A completed request as the driver will see it. */
    record Completion(int head, byte status, int usedLength) {}

    final SplitQueue queue;
    final BlkRequestParser parser;
    final List<Completion> completions = new ArrayList<>();
    final List<Integer> discarded = new ArrayList<>();
    private final BlockWorker worker;
    private final DescriptorChain chain;
    private final BlkRequest request;
    private int inFlight;

    ParseHarness(BlkDevice device, BlockWorker worker, GuestMemory memory, int queueSize,
                 long descGpa, long availGpa, long usedGpa) throws VirtqueueException {
        this.queue = SplitQueue.fromGuestAddresses(memory, queueSize, descGpa, availGpa, usedGpa, true);
        this.parser = new BlkRequestParser(device);
        this.worker = worker;
        this.chain = queue.newChain();
        this.request = new BlkRequest(this, Math.min(1024, device.segMax() + 2));
    }

    /**
     * Pops and runs everything available.
     *
     * @return false if the queue broke
     */
    boolean runAvailable() {
        int head;
        while ((head = queue.pop(chain)) >= 0) {
            inFlight++;
            parser.start(chain, request);
            if (inFlight != 0) {
                throw new AssertionError("request at head " + head + " did not complete on a synchronous worker");
            }
        }
        queue.publishUsed();
        return head != SplitQueue.BROKEN;
    }

    @Override public int index() { return 0; }

    @Override public BlockWorker worker() { return worker; }

    @Override public boolean logsWrites() { return false; }

    @Override
    public void finish(BlkRequest r, byte status, int errno) {
        if (r.statusAddress != 0) {
            r.writeStatus(status);
        }
        int used = status == BlkRequestType.S_OK ? r.usedLength : 1;
        completions.add(new Completion(r.head, status, used));
        queue.stageUsed(r.head, used);
        inFlight--;
    }

    @Override
    public void discardChain(int head) {
        discarded.add(head);
        queue.stageUsed(head, 0);
    }

    @Override
    public void releaseUnstarted(BlkRequest r) {
        inFlight--;
    }
}
