package dev.vublk.virtqueue.testing;

import static dev.vublk.virtqueue.RingLayout.RING_FLAGS;
import static dev.vublk.virtqueue.RingLayout.RING_IDX;

import dev.vublk.virtqueue.GuestMemory;
import dev.vublk.virtqueue.RingAccess;
import dev.vublk.virtqueue.RingLayout;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * The driver side of a split virtqueue, as a guest's virtio driver would run it, for unit tests
 * and for the end-to-end test frontend (where guest memory is a memfd shared with the backend).
 * Single-threaded: one driver thread owns it.
 *
 * <p>It lays out the rings, allocates descriptors from a free list, builds direct, indirect and
 * mixed chains, publishes {@code avail->idx} with a release store, reads used elements after an
 * acquire load of {@code used->idx}, and follows the same suppression protocol as a real driver
 * (a full fence between publishing and reading {@code avail_event}/{@code NO_NOTIFY}, and between
 * writing {@code used_event} and re-reading {@code used->idx}). {@link #pollUsed()} checks that
 * every returned head is outstanding, so a device completing a request twice is caught.
 *
 * <p>The {@code write*Descriptor}/{@link #offer}/{@link #setAvailIdx} methods write raw values to
 * craft malformed chains; they bypass descriptor allocation, so do not mix them with
 * {@link #addChain} on overlapping descriptor indices.
 */
public final class DriverQueue {
    private final GuestMemory memory;
    private final int size;
    private final int mask;
    private final boolean eventIdx;
    private final long descGpa, availGpa, usedGpa;
    private final MemorySegment desc, avail, used;
    private final int[] freeStack;
    private int freeCount;
    private final int[][] chainDescriptors;
    private final boolean[] outstanding;
    private int availIdx;
    private int availAtLastKickCheck;
    private int lastUsedIdx;

    /**
     * Lays out a queue whose rings are at the given guest addresses (each inside one region,
     * aligned as the spec requires) and zeroes them.
     */
    public DriverQueue(GuestMemory memory, int size, long descGpa, long availGpa, long usedGpa, boolean eventIdx) {
        if (!RingLayout.isValidQueueSize(size)) {
            throw new IllegalArgumentException("queue size " + size);
        }
        this.memory = memory;
        this.size = size;
        this.mask = size - 1;
        this.eventIdx = eventIdx;
        this.descGpa = descGpa;
        this.availGpa = availGpa;
        this.usedGpa = usedGpa;
        this.desc = ring(descGpa, RingLayout.descTableBytes(size), RingLayout.DESC_ALIGN);
        this.avail = ring(availGpa, RingLayout.availRingBytes(size, eventIdx), RingLayout.AVAIL_ALIGN);
        this.used = ring(usedGpa, RingLayout.usedRingBytes(size, eventIdx), RingLayout.USED_ALIGN);
        desc.fill((byte) 0);
        avail.fill((byte) 0);
        used.fill((byte) 0);
        freeStack = new int[size];
        for (int i = 0; i < size; i++) {
            freeStack[i] = size - 1 - i;
        }
        freeCount = size;
        chainDescriptors = new int[size][];
        outstanding = new boolean[size];
    }

    /** A queue with its three rings packed from {@code baseGpa} (16-aligned), see {@link #footprint}. */
    public static DriverQueue createAt(GuestMemory memory, int size, long baseGpa, boolean eventIdx) {
        long avail = baseGpa + RingLayout.descTableBytes(size);
        long used = align(avail + RingLayout.availRingBytes(size, eventIdx), RingLayout.USED_ALIGN);
        return new DriverQueue(memory, size, baseGpa, avail, used, eventIdx);
    }

    /** Bytes {@link #createAt} occupies from its base. */
    public static long footprint(int size, boolean eventIdx) {
        long used = align(RingLayout.descTableBytes(size) + RingLayout.availRingBytes(size, eventIdx), RingLayout.USED_ALIGN);
        return used + RingLayout.usedRingBytes(size, eventIdx);
    }

    private static long align(long value, long alignment) {
        return (value + alignment - 1) & -alignment;
    }

    private MemorySegment ring(long gpa, long bytes, long alignment) {
        MemorySegment s = memory.translate(gpa, bytes);
        if (s == null || (gpa & (alignment - 1)) != 0) {
            throw new IllegalArgumentException(String.format("ring at gpa 0x%x (%d bytes) must lie in one region, %d-aligned", gpa, bytes, alignment));
        }
        return s;
    }

    public int size() {
        return size;
    }

    public boolean eventIdx() {
        return eventIdx;
    }

    public long descGpa() {
        return descGpa;
    }

    public long availGpa() {
        return availGpa;
    }

    public long usedGpa() {
        return usedGpa;
    }

    public int freeDescriptors() {
        return freeCount;
    }

    /** Our avail index (entries offered, published or not). */
    public int availIdx() {
        return availIdx;
    }

    /** {@code used->idx} as the device last published it. */
    public int deviceUsedIdx() {
        return RingAccess.loadU16Acquire(used, RING_IDX);
    }

    /**
     * Sets both ring indices (avail and used) to {@code idx}, as if that many requests had come
     * and gone: for wrap-around tests. Call before the device queue is created, then give the
     * device {@code idx} as its last avail index.
     */
    public void startAt(int idx) {
        availIdx = idx & 0xffff;
        availAtLastKickCheck = availIdx;
        lastUsedIdx = availIdx;
        RingAccess.storeU16(used, RING_IDX, availIdx);
        RingAccess.storeU16Release(avail, RING_IDX, availIdx);
    }

    /** Builds a chain of direct descriptors; returns its head (not yet offered). */
    public int addChain(List<DriverBuffer> buffers) {
        if (buffers.isEmpty()) {
            throw new IllegalArgumentException("empty chain");
        }
        int[] indices = allocate(buffers.size());
        linkDirect(indices, buffers, false);
        chainDescriptors[indices[0]] = indices;
        return indices[0];
    }

    /**
     * Builds a chain of one descriptor pointing to an indirect table written at {@code tableGpa}
     * ({@code 16 * buffers.size()} bytes of guest memory the caller reserved).
     */
    public int addIndirect(long tableGpa, List<DriverBuffer> buffers) {
        return addMixed(List.of(), tableGpa, buffers);
    }

    /** Builds {@code direct} descriptors followed by one indirect descriptor for {@code indirect}. */
    public int addMixed(List<DriverBuffer> direct, long tableGpa, List<DriverBuffer> indirect) {
        if (indirect.isEmpty()) {
            throw new IllegalArgumentException("empty indirect table");
        }
        for (int i = 0; i < indirect.size(); i++) {
            DriverBuffer b = indirect.get(i);
            boolean last = i == indirect.size() - 1;
            writeTableDescriptor(tableGpa, i, b.gpa(), b.length(),
                    (b.writable() ? RingLayout.DESC_F_WRITE : 0) | (last ? 0 : RingLayout.DESC_F_NEXT), last ? 0 : i + 1);
        }
        List<DriverBuffer> all = new ArrayList<>(direct);
        all.add(new DriverBuffer(tableGpa, indirect.size() * RingLayout.DESC_SIZE, false));
        int[] indices = allocate(all.size());
        linkDirect(indices, all, true);
        chainDescriptors[indices[0]] = indices;
        return indices[0];
    }

    private void linkDirect(int[] indices, List<DriverBuffer> buffers, boolean lastIsIndirect) {
        for (int i = 0; i < indices.length; i++) {
            DriverBuffer b = buffers.get(i);
            boolean last = i == indices.length - 1;
            int flags = (last ? 0 : RingLayout.DESC_F_NEXT)
                    | (last && lastIsIndirect ? RingLayout.DESC_F_INDIRECT : b.writable() ? RingLayout.DESC_F_WRITE : 0);
            writeDescriptor(indices[i], b.gpa(), b.length(), flags, last ? 0 : indices[i + 1]);
        }
    }

    private int[] allocate(int count) {
        if (count > freeCount) {
            throw new IllegalStateException("need " + count + " descriptors, " + freeCount + " free");
        }
        int[] indices = new int[count];
        for (int i = 0; i < count; i++) {
            indices[i] = freeStack[--freeCount];
        }
        return indices;
    }

    /** Writes descriptor {@code index} of the ring's table (raw). */
    public void writeDescriptor(int index, long addr, int len, int flags, int next) {
        writeDescriptorAt(desc, RingLayout.descOffset(index), addr, len, flags, next);
    }

    /** Writes entry {@code index} of an indirect table at {@code tableGpa} (raw). */
    public void writeTableDescriptor(long tableGpa, int index, long addr, int len, int flags, int next) {
        MemorySegment entry = memory.translate(tableGpa + RingLayout.descOffset(index), RingLayout.DESC_SIZE);
        if (entry == null) {
            throw new IllegalArgumentException(String.format("indirect entry %d at 0x%x is not guest memory", index, tableGpa));
        }
        writeDescriptorAt(entry, 0, addr, len, flags, next);
    }

    private static void writeDescriptorAt(MemorySegment table, long off, long addr, int len, int flags, int next) {
        table.set(RingAccess.U64_UNALIGNED, off + RingLayout.DESC_ADDR, addr);
        table.set(RingAccess.U32_UNALIGNED, off + RingLayout.DESC_LEN, len);
        table.set(RingAccess.U16_UNALIGNED, off + RingLayout.DESC_FLAGS, (short) flags);
        table.set(RingAccess.U16_UNALIGNED, off + RingLayout.DESC_NEXT, (short) next);
    }

    /** Puts {@code head} in the next avail ring slot; visible to the device after {@link #publish()}. */
    public void offer(int head) {
        RingAccess.storeU16(avail, RingLayout.availEntryOffset(availIdx & mask), head);
        availIdx = (availIdx + 1) & 0xffff;
        if (head >= 0 && head < size) {
            outstanding[head] = true;
        }
    }

    /** Release store of {@code avail->idx}: descriptors and ring entries written before become visible first. */
    public void publish() {
        RingAccess.storeU16Release(avail, RING_IDX, availIdx);
    }

    /** Stores an arbitrary {@code avail->idx} (raw; e.g. a jump beyond the queue size). */
    public void setAvailIdx(int idx) {
        availIdx = idx & 0xffff;
        publish();
    }

    /** {@link #addChain}, {@link #offer}, {@link #publish}; returns the head. */
    public int submit(List<DriverBuffer> buffers) {
        int head = addChain(buffers);
        offer(head);
        publish();
        return head;
    }

    /**
     * Whether the device wants a kick for what was published since the previous call: full
     * fence (our {@code avail->idx} store before the load of its {@code avail_event} or flags),
     * then the event-index test or the {@code NO_NOTIFY} flag.
     */
    public boolean kickNeeded() {
        VarHandle.fullFence();
        int oldIdx = availAtLastKickCheck;
        availAtLastKickCheck = availIdx;
        if (eventIdx) {
            return RingLayout.needEvent(RingAccess.loadU16(used, RingLayout.availEventOffset(size)), availIdx, oldIdx);
        }
        return (RingAccess.loadU16(used, RING_FLAGS) & RingLayout.USED_F_NO_NOTIFY) == 0;
    }

    /**
     * Takes the next used element, or null if none; frees its descriptors.
     *
     * @throws IllegalStateException if the device returned a head that is not outstanding
     *         (never offered, or completed twice)
     */
    public UsedElement pollUsed() {
        if (RingAccess.loadU16Acquire(used, RING_IDX) == lastUsedIdx) {
            return null;
        }
        long off = RingLayout.usedElemOffset(lastUsedIdx & mask);
        int id = RingAccess.loadU32(used, off);
        long len = Integer.toUnsignedLong(RingAccess.loadU32(used, off + 4));
        lastUsedIdx = (lastUsedIdx + 1) & 0xffff;
        if (id < 0 || id >= size || !outstanding[id]) {
            throw new IllegalStateException("device returned head " + Integer.toUnsignedString(id) + " which is not outstanding");
        }
        outstanding[id] = false;
        int[] indices = chainDescriptors[id];
        if (indices != null) {
            chainDescriptors[id] = null;
            for (int index : indices) {
                freeStack[freeCount++] = index;
            }
        }
        return new UsedElement(id, len);
    }

    /**
     * Re-arms interrupts before the driver sleeps: {@code used_event = last seen used idx} (or
     * clear {@code NO_INTERRUPT}), full fence, re-read {@code used->idx}.
     *
     * @return true if used elements are pending (poll instead of sleeping)
     */
    public boolean enableInterrupts() {
        if (eventIdx) {
            RingAccess.storeU16(avail, RingLayout.usedEventOffset(size), lastUsedIdx);
        } else {
            RingAccess.storeU16(avail, RING_FLAGS, 0);
        }
        VarHandle.fullFence();
        return RingAccess.loadU16Acquire(used, RING_IDX) != lastUsedIdx;
    }

    /** Asks for no interrupts (a hint; with EVENT_IDX {@code used_event} just stays behind). */
    public void disableInterrupts() {
        if (!eventIdx) {
            RingAccess.storeU16(avail, RING_FLAGS, RingLayout.AVAIL_F_NO_INTERRUPT);
        }
    }

    /** Stores {@code avail->used_event} (raw). */
    public void setUsedEvent(int idx) {
        RingAccess.storeU16(avail, RingLayout.usedEventOffset(size), idx);
    }

    /** Stores {@code avail->flags} (raw). */
    public void setAvailFlags(int flags) {
        RingAccess.storeU16(avail, RING_FLAGS, flags);
    }

    /** {@code used->avail_event} as the device wrote it. */
    public int availEvent() {
        return RingAccess.loadU16(used, RingLayout.availEventOffset(size));
    }

    /** {@code used->flags} as the device wrote it. */
    public int usedFlags() {
        return RingAccess.loadU16(used, RING_FLAGS);
    }
}
