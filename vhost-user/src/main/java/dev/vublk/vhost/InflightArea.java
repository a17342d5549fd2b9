package dev.vublk.vhost;

import dev.vublk.uring.Fds;
import dev.vublk.uring.MappedRegion;
import dev.vublk.uring.MemFd;
import dev.vublk.uring.NativeException;

/** The shared inflight memfd of a connection: one {@link InflightQueue} region per queue. */
public final class InflightArea implements AutoCloseable {
    private static final long PAGE = 4096;

    private final MappedRegion mapping;
    private final int numQueues;
    private final int queueSize;

    private InflightArea(MappedRegion mapping, int numQueues, int queueSize) {
        this.mapping = mapping;
        this.numQueues = numQueues;
        this.queueSize = queueSize;
    }

    static long bytes(int numQueues, int queueSize) {
        return numQueues * InflightQueue.regionBytes(queueSize);
    }

    /** GET_INFLIGHT_FD: a new formatted area; returns it with the memfd to send (the caller closes it). */
    static InflightArea create(int numQueues, int queueSize, int[] fdOut) throws NativeException {
        long size = bytes(numQueues, queueSize);
        // Sealed: the front-end keeps this file and must not be able to shrink it under our mapping.
        int fd = MemFd.createUnshrinkable("vhost-user-blk-inflight", size);
        try {
            InflightArea area = new InflightArea(MappedRegion.map(fd, 0, size, true), numQueues, queueSize);
            for (int q = 0; q < numQueues; q++) {
                InflightQueue.format(area.slice(q), queueSize);
            }
            fdOut[0] = fd;
            return area;
        } catch (NativeException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
    }

    /**
     * SET_INFLIGHT_FD: the front-end's area, kept across back-end restarts. The range it claims
     * must hold the queues and lie inside the file as it is now (a mapping past the end faults);
     * only the part the queues use is mapped.
     */
    static InflightArea map(int fd, InflightDescriptor d) throws NativeException, Refused {
        long needed = bytes(d.numQueues(), d.queueSize());
        if (d.mmapOffset() < 0 || (d.mmapOffset() & (PAGE - 1)) != 0 || d.mmapSize() < needed) {
            throw new Refused("inflight area of " + d.mmapSize() + " bytes at offset " + d.mmapOffset()
                    + " cannot hold " + d.numQueues() + " queues of " + d.queueSize() + " (" + needed
                    + " bytes at a page-aligned offset)");
        }
        long fileSize = Fds.fileSize(fd);
        if (d.mmapOffset() > fileSize || d.mmapSize() > fileSize - d.mmapOffset()) {
            throw new Refused("inflight area of " + d.mmapSize() + " bytes at offset " + d.mmapOffset()
                    + " reaches past the end of its " + fileSize + "-byte file");
        }
        return new InflightArea(MappedRegion.map(fd, d.mmapOffset(), needed, true), d.numQueues(), d.queueSize());
    }

    private java.lang.foreign.MemorySegment slice(int queue) {
        long each = InflightQueue.regionBytes(queueSize);
        return mapping.segment().asSlice(queue * each, each);
    }

    public int numQueues() { return numQueues; }

    public int queueSize() { return queueSize; }

    /** The tracker for a queue of {@code size}, or null if the area does not describe that queue. */
    public InflightQueue queue(int index, int size) {
        if (index >= numQueues || size != queueSize) {
            return null;
        }
        InflightQueue q = new InflightQueue(slice(index), size);
        return q.matches() ? q : null;
    }

    @Override
    public void close() {
        mapping.close();
    }
}
