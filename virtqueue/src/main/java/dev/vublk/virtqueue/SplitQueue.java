package dev.vublk.virtqueue;

import static dev.vublk.virtqueue.RingAccess.loadU16;
import static dev.vublk.virtqueue.RingAccess.loadU16Acquire;
import static dev.vublk.virtqueue.RingLayout.DESC_F_INDIRECT;
import static dev.vublk.virtqueue.RingLayout.DESC_F_NEXT;
import static dev.vublk.virtqueue.RingLayout.DESC_F_WRITE;
import static dev.vublk.virtqueue.RingLayout.RING_FLAGS;
import static dev.vublk.virtqueue.RingLayout.RING_IDX;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

/**
 * Device side of one split virtqueue (virtio 1.2 section 2.7). One instance is driven by one
 * thread (the queue's thread); only {@link #setMemory} may be called from another thread.
 *
 * <h2>Setup</h2>
 * The three rings are given as segments already translated by the caller, normally with
 * {@link #fromUserAddresses} from the frontend-virtual addresses of {@code SET_VRING_ADDR}. Ring
 * addresses are resolved once: if the memory table later changes so that a ring moves, build a
 * new queue (carrying over {@link #lastAvailIdx()}). The initial used index is read from the used
 * ring, the initial {@code lastAvailIdx} is 0 until {@link #setLastAvailIdx} ({@code SET_VRING_BASE}).
 *
 * <h2>Request flow</h2>
 * <pre>
 * DescriptorChain chain = queue.newChain();           // once per thread
 * // on a kick:
 * do {
 *     queue.disableKicks();
 *     for (int head; (head = queue.pop(chain)) &gt;= 0; ) { ... eventually addUsed(head, len) ... }
 * } while (queue.enableKicks());                     // true: more arrived meanwhile
 * // after completions: stageUsed(..) x n; publishUsed(); if (queue.needsNotification()) signal call fd
 * </pre>
 *
 * <h2>Memory ordering</h2>
 * The driver (another CPU, in the guest) and this thread communicate through plain memory, so
 * each cross-party handoff needs an explicit ordering; the fences below mirror the driver's
 * {@code virtio_wmb}/{@code virtio_mb} of virtio 1.2 sections 2.7.13 and 2.7.7/2.7.10.
 * <ol>
 * <li><b>Reading requests.</b> The driver writes descriptors and the avail ring entry, then
 *     (after a write barrier) {@code avail->idx}. We load {@code avail->idx} with
 *     <em>acquire</em> semantics, so our later loads of {@code avail->ring[]}, of descriptors and
 *     of request headers cannot be satisfied before it and observe at least what the driver
 *     wrote before publishing that index. Entries below a previously acquired index
 *     ({@code shadowAvailIdx}) need no new acquire.</li>
 * <li><b>Returning buffers.</b> We write {@code used->ring[]} entries (and, before that, the
 *     buffer contents) with plain stores, then store {@code used->idx} with <em>release</em>
 *     semantics, so the driver, which reads the index and then (after a read barrier) the
 *     entries, never sees an index covering an entry or data not yet written. Several entries
 *     may be staged and published with one release store.</li>
 * <li><b>Interrupt suppression.</b> After publishing, the device must decide whether to signal.
 *     The driver, when it re-enables interrupts, stores {@code used_event} (or clears
 *     {@code NO_INTERRUPT}), issues a full barrier and re-reads {@code used->idx}. We store
 *     {@code used->idx}, issue a <em>full fence</em>, and only then read {@code used_event}
 *     (or the flags). Without the fence our load could be performed before our store becomes
 *     visible (store-load reordering is allowed even on x86), and both sides could read the
 *     other's stale value: the driver would sleep waiting for an interrupt we decided not to
 *     send. With a full fence on both sides at least one of them sees the other's store.</li>
 * <li><b>Kick suppression.</b> Symmetrically, before sleeping we store {@code avail_event}
 *     (or clear {@code NO_NOTIFY}), issue a <em>full fence</em>, then re-read {@code avail->idx};
 *     the driver stores {@code avail->idx}, issues a full barrier, then reads
 *     {@code avail_event}. Either the driver sees our event index and kicks, or we see its new
 *     index and keep processing ({@link #enableKicks} returns true): no lost kick.</li>
 * </ol>
 *
 * <h2>Guest-controlled input</h2>
 * Everything read from the rings is validated before use: an avail index more than the queue
 * size ahead, a head index out of range, or a head made available again while the device still
 * owns it, puts the queue in a broken state ({@link #BROKEN}, reported, never a hang); a bad
 * chain (loop, out-of-range index, overlong chain, bad indirect table, buffer outside guest
 * memory) fails only that request ({@link DescriptorChain#error()}).
 * Chain walks are bounded by the table size, so a looping chain costs at most one pass.
 * Descriptors are copied out once, so a guest changing them under us only hurts itself.
 *
 * <p>Heads the device owns (popped, not yet staged as used) are tracked: a driver that posts a
 * head again before getting it back breaks the spec (2.7.13: buffers are the device's until
 * used), and starting a second request on descriptors a first one is still transferring into
 * would let the guest make two operations target the same memory and get one head completed
 * twice. Failing just the repeated entry is not possible (completing it would report the first
 * request's head as done), so the queue breaks. As a consequence the device never owns more than
 * {@code size} requests, whatever the driver does.
 */
public final class SplitQueue {
    /** {@link #pop} result: nothing available. */
    public static final int NO_BUFFER = -1;
    /** {@link #pop} result: the ring is corrupt; see {@link #brokenReason()}. */
    public static final int BROKEN = -2;
    /**
     * Buffers one chain may hold, whatever the queue size: small queues still get this many,
     * since drivers size indirect tables by the device's {@code seg_max}, not by the queue size;
     * large queues (up to 32768) get no more, so per-request state stays bounded (a longer chain
     * fails with {@link ChainError#TOO_LONG}). 1024 is also IOV_MAX and QEMU's limit.
     */
    public static final int MAX_CHAIN_LENGTH = 1024;

    private final int size;
    private final int mask;
    private final MemorySegment descTable;
    private final MemorySegment availRing;
    private final MemorySegment usedRing;
    private final boolean eventIdx;
    private final int maxChainLength;
    private final long usedEventOffset;
    private final long availEventOffset;
    private volatile GuestMemory memory;

    private int lastAvailIdx;
    /** avail->idx as last acquired; entries in [lastAvailIdx, shadowAvailIdx) are readable. */
    private int shadowAvailIdx;
    /** used->idx including staged, unpublished entries. */
    private int nextUsedIdx;
    /** used->idx as last published. */
    private int publishedUsedIdx;
    /** used->idx at the last notification decision; meaningful when signalledValid. */
    private int signalledUsedIdx;
    private boolean signalledValid;
    private String brokenReason;
    private MemorySegment indirectScratch;
    private final OwnedHeads owned;

    /**
     * @param size       queue size, a power of two up to {@value RingLayout#MAX_QUEUE_SIZE}
     * @param descTable  descriptor table, {@link RingLayout#descTableBytes} bytes, 16-aligned
     * @param availRing  available ring, {@link RingLayout#availRingBytes} bytes, 2-aligned
     * @param usedRing   used ring, {@link RingLayout#usedRingBytes} bytes, 4-aligned
     * @param eventIdx   whether {@code VIRTIO_RING_F_EVENT_IDX} was negotiated
     * @param memory     guest memory for buffers and indirect tables
     */
    public SplitQueue(int size, MemorySegment descTable, MemorySegment availRing, MemorySegment usedRing,
                      boolean eventIdx, GuestMemory memory) throws VirtqueueException {
        if (!RingLayout.isValidQueueSize(size)) {
            throw new VirtqueueException("queue size " + size + " is not a power of two in 1.." + RingLayout.MAX_QUEUE_SIZE);
        }
        checkRing("descriptor table", descTable, RingLayout.descTableBytes(size), RingLayout.DESC_ALIGN);
        checkRing("available ring", availRing, RingLayout.availRingBytes(size, eventIdx), RingLayout.AVAIL_ALIGN);
        checkRing("used ring", usedRing, RingLayout.usedRingBytes(size, eventIdx), RingLayout.USED_ALIGN);
        this.size = size;
        this.mask = size - 1;
        this.descTable = descTable;
        this.availRing = availRing;
        this.usedRing = usedRing;
        this.eventIdx = eventIdx;
        this.memory = memory;
        this.maxChainLength = MAX_CHAIN_LENGTH;
        this.usedEventOffset = RingLayout.usedEventOffset(size);
        this.availEventOffset = RingLayout.availEventOffset(size);
        this.owned = new OwnedHeads(size);
        // A restarted backend continues where the used ring is; nothing of ours is staged yet.
        this.nextUsedIdx = loadU16Acquire(usedRing, RING_IDX);
        this.publishedUsedIdx = nextUsedIdx;
        this.signalledUsedIdx = nextUsedIdx;
    }

    /** A queue whose rings are at frontend-virtual addresses (vhost-user {@code SET_VRING_ADDR}). */
    public static SplitQueue fromUserAddresses(GuestMemory memory, int size, long descUva, long availUva, long usedUva,
                                               boolean eventIdx) throws VirtqueueException {
        checkSize(size);
        return new SplitQueue(size,
                ring("descriptor table", "uva", descUva, memory.translateUser(descUva, RingLayout.descTableBytes(size))),
                ring("available ring", "uva", availUva, memory.translateUser(availUva, RingLayout.availRingBytes(size, eventIdx))),
                ring("used ring", "uva", usedUva, memory.translateUser(usedUva, RingLayout.usedRingBytes(size, eventIdx))),
                eventIdx, memory);
    }

    /** A queue whose rings are at guest physical addresses (virtio-pci style; used by tests). */
    public static SplitQueue fromGuestAddresses(GuestMemory memory, int size, long descGpa, long availGpa, long usedGpa,
                                                boolean eventIdx) throws VirtqueueException {
        checkSize(size);
        return new SplitQueue(size,
                ring("descriptor table", "gpa", descGpa, memory.translate(descGpa, RingLayout.descTableBytes(size))),
                ring("available ring", "gpa", availGpa, memory.translate(availGpa, RingLayout.availRingBytes(size, eventIdx))),
                ring("used ring", "gpa", usedGpa, memory.translate(usedGpa, RingLayout.usedRingBytes(size, eventIdx))),
                eventIdx, memory);
    }

    private static void checkSize(int size) throws VirtqueueException {
        if (!RingLayout.isValidQueueSize(size)) {
            throw new VirtqueueException("queue size " + size + " is not a power of two in 1.." + RingLayout.MAX_QUEUE_SIZE);
        }
    }

    private static MemorySegment ring(String what, String space, long address, MemorySegment segment) throws VirtqueueException {
        if (segment == null) {
            throw new VirtqueueException(String.format("%s at %s 0x%x is not inside one guest memory region", what, space, address));
        }
        return segment;
    }

    private static void checkRing(String what, MemorySegment s, long bytes, int alignment) throws VirtqueueException {
        if (s.byteSize() < bytes) {
            throw new VirtqueueException(what + " segment has " + s.byteSize() + " bytes, needs " + bytes);
        }
        if (!s.isNative() || !RingAccess.isAligned(s, alignment)) {
            throw new VirtqueueException(String.format("%s at 0x%x is not a native %d-aligned segment", what, s.address(), alignment));
        }
    }

    public int size() {
        return size;
    }

    public boolean eventIdx() {
        return eventIdx;
    }

    /** Most buffers a chain may have (direct plus indirect). */
    public int maxChainLength() {
        return maxChainLength;
    }

    /** A chain holder big enough for this queue; make one per thread and reuse it. */
    public DescriptorChain newChain() {
        return new DescriptorChain(maxChainLength);
    }

    public GuestMemory memory() {
        return memory;
    }

    /**
     * Switches to a new memory snapshot for buffers popped from now on (safe from any thread;
     * rings stay where they were resolved).
     */
    public void setMemory(GuestMemory newMemory) {
        memory = newMemory;
    }

    /** Next avail ring position to consume ({@code GET_VRING_BASE}). */
    public int lastAvailIdx() {
        return lastAvailIdx;
    }

    /** Sets the next avail ring position ({@code SET_VRING_BASE}); only before processing starts. */
    public void setLastAvailIdx(int idx) {
        lastAvailIdx = idx & 0xffff;
        shadowAvailIdx = lastAvailIdx;
        signalledUsedIdx = publishedUsedIdx;
        signalledValid = false;
    }

    /** The used index including staged entries. */
    public int usedIdx() {
        return nextUsedIdx;
    }

    public boolean isBroken() {
        return brokenReason != null;
    }

    /** Why the queue stopped, or null. */
    public String brokenReason() {
        return brokenReason;
    }

    /**
     * Number of entries the driver has made available and we have not popped; 0 when broken.
     * Performs the acquire load of {@code avail->idx}.
     */
    public int availableCount() {
        if (brokenReason != null) {
            return 0;
        }
        try {
            refreshAvail();
        } catch (RuntimeException e) {
            markBroken("ring memory is unusable: " + e);
        }
        return brokenReason != null ? 0 : (shadowAvailIdx - lastAvailIdx) & 0xffff;
    }

    /**
     * Takes the next available request and walks its chain into {@code chain}.
     *
     * @return the head descriptor index (check {@link DescriptorChain#isValid()}: an invalid
     *         chain must still be completed), {@link #NO_BUFFER}, or {@link #BROKEN}
     * @throws IllegalArgumentException if {@code chain} is smaller than {@link #maxChainLength()}
     */
    public int pop(DescriptorChain chain) {
        checkCapacity(chain);
        if (brokenReason != null) {
            return BROKEN;
        }
        try {
            if (lastAvailIdx == shadowAvailIdx && !refreshAvail()) {
                return brokenReason != null ? BROKEN : NO_BUFFER;
            }
            // Ordered after the acquire of avail->idx that covered this slot.
            int head = loadU16(availRing, RingLayout.availEntryOffset(lastAvailIdx & mask));
            lastAvailIdx = (lastAvailIdx + 1) & 0xffff;
            if (head >= size) {
                markBroken("avail ring entry " + ((lastAvailIdx - 1) & 0xffff) + " holds head " + head
                        + ", outside a queue of " + size);
                return BROKEN;
            }
            if (isOwned(head)) {
                markBroken("avail ring entry " + ((lastAvailIdx - 1) & 0xffff) + " holds head " + head
                        + ", which the device still owns (made available again before it was used)");
                return BROKEN;
            }
            owned.add(head);
            walk(head, chain);
            return head;
        } catch (RuntimeException e) {
            // Only a closed or vanished mapping gets here (all offsets are checked); stop the queue, not the thread.
            markBroken("ring memory is unusable: " + e);
            return BROKEN;
        }
    }

    /**
     * Walks the chain at {@code head} again without touching the available ring: how requests a
     * crashed back-end took, and never completed, are redone (inflight recovery).
     *
     * @return {@code head}, or {@link #BROKEN} if it is not a descriptor index or the ring is broken
     */
    public int walkHead(int head, DescriptorChain chain) {
        return walkAgain(head, chain, false);
    }

    /**
     * Walks the chain at {@code head} again while the device owns it (popped, not yet used), as
     * {@link #pop} checks it: a request held back (until the disk has space) starts anew without
     * keeping its chain meanwhile. Returns {@code head}, or {@link #BROKEN} if not owned or broken.
     */
    public int walkOwned(int head, DescriptorChain chain) {
        return walkAgain(head, chain, true);
    }

    /** {@link #walkHead} (the device takes a head it must not own yet) or {@link #walkOwned}. */
    private int walkAgain(int head, DescriptorChain chain, boolean mustOwn) {
        checkCapacity(chain);
        if (brokenReason != null || head < 0 || head >= size) {
            return BROKEN;
        }
        if (isOwned(head) != mustOwn) {
            if (!mustOwn) {
                markBroken("head " + head + " is walked again while the device still owns it");
            }
            return BROKEN;
        }
        if (!mustOwn) {
            owned.add(head);
        }
        try {
            walk(head, chain);
            return head;
        } catch (RuntimeException e) {
            markBroken("ring memory is unusable: " + e); // breaks the queue, not the thread
            return BROKEN;
        }
    }

    private void checkCapacity(DescriptorChain chain) {
        if (chain.capacity() < maxChainLength) {
            throw new IllegalArgumentException("chain capacity " + chain.capacity() + " < " + maxChainLength);
        }
    }

    /** Whether {@code head} was popped and not yet staged as used. */
    public boolean isOwned(int head) {
        return owned.contains(head);
    }

    /** Number of heads popped and not yet staged as used: never more than {@link #size()}. */
    public int ownedCount() {
        return owned.count();
    }

    /** Acquires avail->idx; true if entries are pending. A jump beyond the queue size breaks the queue. */
    private boolean refreshAvail() {
        int idx = loadU16Acquire(availRing, RING_IDX);
        int pending = (idx - lastAvailIdx) & 0xffff;
        if (pending > size) {
            markBroken("avail idx " + idx + " is " + pending + " entries ahead of " + lastAvailIdx
                    + ", more than the queue size " + size);
            return false;
        }
        shadowAvailIdx = idx;
        return pending != 0;
    }

    private void walk(int head, DescriptorChain chain) {
        GuestMemory snapshot = memory;
        chain.reset(head, snapshot);
        MemorySegment table = descTable;
        int tableSize = size;
        boolean indirect = false;
        int index = head;
        int visited = 0;
        while (true) {
            if (++visited > tableSize) {
                chain.fail(ChainError.LOOP);
                return;
            }
            long off = RingLayout.descOffset(index);
            long addr = table.get(RingAccess.U64_UNALIGNED, off + RingLayout.DESC_ADDR);
            int len = table.get(RingAccess.U32_UNALIGNED, off + RingLayout.DESC_LEN);
            int flags = table.get(RingAccess.U16_UNALIGNED, off + RingLayout.DESC_FLAGS) & 0xffff;
            int next = table.get(RingAccess.U16_UNALIGNED, off + RingLayout.DESC_NEXT) & 0xffff;
            if ((flags & DESC_F_INDIRECT) != 0) {
                ChainError bad = indirect ? ChainError.NESTED_INDIRECT
                        : (flags & DESC_F_NEXT) != 0 ? ChainError.INDIRECT_WITH_NEXT
                        : indirectLengthError(len);
                if (bad == null) {
                    table = indirectTable(snapshot, addr, len);
                    bad = table == null ? ChainError.INDIRECT_NOT_IN_MEMORY : null;
                }
                if (bad != null) {
                    chain.fail(bad);
                    return;
                }
                // The WRITE flag of the indirect descriptor itself is ignored (2.7.5.3.2).
                indirect = true;
                tableSize = len / RingLayout.DESC_SIZE;
                index = 0;
                visited = 0;
                continue;
            }
            ChainError bad = chain.add(addr, len, (flags & DESC_F_WRITE) != 0);
            if (bad == null && (flags & DESC_F_NEXT) != 0 && next >= tableSize) {
                bad = ChainError.NEXT_OUT_OF_RANGE;
            }
            if (bad != null) {
                chain.fail(bad);
                return;
            }
            if ((flags & DESC_F_NEXT) == 0) {
                return;
            }
            index = next;
        }
    }

    private ChainError indirectLengthError(int len) {
        if (len == 0 || Integer.remainderUnsigned(len, RingLayout.DESC_SIZE) != 0) {
            return ChainError.INDIRECT_BAD_LENGTH;
        }
        return Integer.toUnsignedLong(len) / RingLayout.DESC_SIZE > maxChainLength ? ChainError.INDIRECT_TOO_LARGE : null;
    }

    /**
     * The indirect table as a segment: a slice when it lies in one region (the usual case), else
     * a copy into a per-queue scratch buffer (it spans GPA-adjacent regions); null if unmapped.
     */
    private MemorySegment indirectTable(GuestMemory snapshot, long gpa, int len) {
        MemorySegment table = snapshot.translate(gpa, len);
        if (table != null) {
            return table;
        }
        if (indirectScratch == null) {
            indirectScratch = Arena.ofAuto().allocate((long) maxChainLength * RingLayout.DESC_SIZE, RingLayout.DESC_ALIGN);
        }
        return snapshot.read(gpa, indirectScratch, 0, len) ? indirectScratch : null;
    }

    /**
     * Writes a used element without publishing it; {@link #publishUsed()} makes staged elements
     * visible to the driver with one release store.
     *
     * @param head the chain's head index as returned by {@link #pop}
     * @param len  bytes written into the chain's writable buffers (unsigned 32-bit)
     * @return false if the queue is broken (nothing written)
     * @throws IllegalArgumentException if {@code head} is not a descriptor index
     * @throws IllegalStateException    if a whole ring's worth of elements is already staged
     */
    public boolean stageUsed(int head, int len) {
        if (head < 0 || head >= size) {
            throw new IllegalArgumentException("head " + head + " outside a queue of " + size);
        }
        if (((nextUsedIdx - publishedUsedIdx) & 0xffff) >= size) {
            throw new IllegalStateException(size + " used elements staged without publishUsed()");
        }
        owned.remove(head); // given back even when broken: the device is done with it
        if (brokenReason != null) {
            return false;
        }
        try {
            long off = RingLayout.usedElemOffset(nextUsedIdx & mask);
            RingAccess.storeU32(usedRing, off, head);
            RingAccess.storeU32(usedRing, off + 4, len);
        } catch (RuntimeException e) {
            markBroken("ring memory is unusable: " + e);
            return false;
        }
        nextUsedIdx = (nextUsedIdx + 1) & 0xffff;
        return true;
    }

    /** Publishes staged used elements: release store of {@code used->idx}. */
    public boolean publishUsed() {
        if (brokenReason != null) {
            return false;
        }
        if (nextUsedIdx == publishedUsedIdx) {
            return true;
        }
        try {
            // Release: the element stores above (and the buffer data before them) become visible first.
            RingAccess.storeU16Release(usedRing, RING_IDX, nextUsedIdx);
        } catch (RuntimeException e) {
            markBroken("ring memory is unusable: " + e);
            return false;
        }
        publishedUsedIdx = nextUsedIdx;
        return true;
    }

    /** {@link #stageUsed} then {@link #publishUsed}. */
    public boolean addUsed(int head, int len) {
        return stageUsed(head, len) && publishUsed();
    }

    /**
     * Whether the driver wants an interrupt for the elements published since the previous call
     * (call after {@link #publishUsed()}; signal the call eventfd when true). With EVENT_IDX the
     * whole batch {@code [previous used idx, used idx)} is tested against {@code used_event};
     * otherwise the driver's {@code NO_INTERRUPT} flag decides. Nothing published since the
     * previous call means no interrupt; the first call after setup or {@link #setLastAvailIdx}
     * that finds new elements notifies regardless of {@code used_event} (whose history is unknown).
     */
    public boolean needsNotification() {
        if (brokenReason != null) {
            return false;
        }
        // Store-load ordering of used->idx (published above) against used_event/flags below:
        // see "Interrupt suppression" in the class comment.
        VarHandle.fullFence();
        int newIdx = publishedUsedIdx;
        int oldIdx = signalledUsedIdx;
        boolean valid = signalledValid;
        signalledUsedIdx = newIdx;
        signalledValid = true;
        if (newIdx == oldIdx) {
            return false;
        }
        try {
            if (eventIdx) {
                return !valid || RingLayout.needEvent(loadU16(availRing, usedEventOffset), newIdx, oldIdx);
            }
            return (loadU16(availRing, RING_FLAGS) & RingLayout.AVAIL_F_NO_INTERRUPT) == 0;
        } catch (RuntimeException e) {
            markBroken("ring memory is unusable: " + e);
            return false;
        }
    }

    /**
     * Asks the driver not to kick while we are processing anyway. With EVENT_IDX this is a no-op:
     * {@code avail_event} is simply not advanced, so the driver kicks at most once more.
     */
    public void disableKicks() {
        if (!eventIdx && brokenReason == null) {
            try {
                RingAccess.storeU16(usedRing, RING_FLAGS, RingLayout.USED_F_NO_NOTIFY);
            } catch (RuntimeException e) {
                markBroken("ring memory is unusable: " + e);
            }
        }
    }

    /**
     * Re-arms kicks before the queue thread sleeps: stores {@code avail_event = lastAvailIdx}
     * (or clears {@code NO_NOTIFY}), full fence, re-reads {@code avail->idx}.
     *
     * @return true if requests are pending (keep popping instead of sleeping), false if it is
     *         safe to wait for the next kick; false too when the queue is broken
     */
    public boolean enableKicks() {
        if (brokenReason != null) {
            return false;
        }
        try {
            if (eventIdx) {
                RingAccess.storeU16(usedRing, availEventOffset, lastAvailIdx);
            } else {
                RingAccess.storeU16(usedRing, RING_FLAGS, 0);
            }
            // Store-load ordering: see "Kick suppression" in the class comment.
            VarHandle.fullFence();
            return lastAvailIdx != shadowAvailIdx || refreshAvail();
        } catch (RuntimeException e) {
            markBroken("ring memory is unusable: " + e);
            return false;
        }
    }

    private void markBroken(String reason) {
        if (brokenReason == null) {
            brokenReason = reason;
        }
    }

    @Override
    public String toString() {
        return "SplitQueue[size=" + size + ", eventIdx=" + eventIdx + ", lastAvail=" + lastAvailIdx
                + ", used=" + nextUsedIdx + (brokenReason != null ? ", broken: " + brokenReason : "") + "]";
    }
}
