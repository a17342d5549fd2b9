package dev.vublk.virtqueue;

/**
 * Byte layout of a split virtqueue (virtio 1.2, section 2.7), shared by the device side
 * ({@link SplitQueue}) and the driver side used in tests, so both agree on every offset.
 *
 * <pre>
 * descriptor table: size x { le64 addr; le32 len; le16 flags; le16 next; }      align 16
 * available ring:   le16 flags; le16 idx; le16 ring[size]; le16 used_event;   align 2
 * used ring:        le16 flags; le16 idx; { le32 id; le32 len; }[size]; le16 avail_event;  align 4
 * </pre>
 * The trailing {@code used_event} / {@code avail_event} fields exist only with
 * {@code VIRTIO_RING_F_EVENT_IDX}.
 */
public final class RingLayout {
    /** Largest queue size a split virtqueue may have. */
    public static final int MAX_QUEUE_SIZE = 32768;

    public static final int DESC_SIZE = 16;
    public static final int DESC_ALIGN = 16;
    public static final int AVAIL_ALIGN = 2;
    public static final int USED_ALIGN = 4;

    /** Descriptor flag: the chain continues at {@code next}. */
    public static final int DESC_F_NEXT = 1;
    /** Descriptor flag: the buffer is device-writable (otherwise device-readable). */
    public static final int DESC_F_WRITE = 2;
    /** Descriptor flag: the buffer holds a table of descriptors. */
    public static final int DESC_F_INDIRECT = 4;

    /** Available ring flag: the driver asks not to be interrupted (without EVENT_IDX). */
    public static final int AVAIL_F_NO_INTERRUPT = 1;
    /** Used ring flag: the device asks not to be kicked (without EVENT_IDX). */
    public static final int USED_F_NO_NOTIFY = 1;

    public static final long DESC_ADDR = 0, DESC_LEN = 8, DESC_FLAGS = 12, DESC_NEXT = 14;
    public static final long RING_FLAGS = 0, RING_IDX = 2, RING_ENTRIES = 4;
    public static final int USED_ELEM_SIZE = 8;

    private RingLayout() {
    }

    public static boolean isValidQueueSize(int size) {
        return size > 0 && size <= MAX_QUEUE_SIZE && Integer.bitCount(size) == 1;
    }

    public static long descTableBytes(int size) {
        return (long) size * DESC_SIZE;
    }

    public static long availRingBytes(int size, boolean eventIdx) {
        return RING_ENTRIES + 2L * size + (eventIdx ? 2 : 0);
    }

    public static long usedRingBytes(int size, boolean eventIdx) {
        return RING_ENTRIES + (long) USED_ELEM_SIZE * size + (eventIdx ? 2 : 0);
    }

    public static long descOffset(int index) {
        return (long) index * DESC_SIZE;
    }

    /** Offset of {@code avail->ring[slot]}; {@code slot} is already reduced modulo the size. */
    public static long availEntryOffset(int slot) {
        return RING_ENTRIES + 2L * slot;
    }

    /** Offset of {@code avail->used_event}. */
    public static long usedEventOffset(int size) {
        return RING_ENTRIES + 2L * size;
    }

    /** Offset of {@code used->ring[slot]}; the element's {@code len} is 4 bytes further. */
    public static long usedElemOffset(int slot) {
        return RING_ENTRIES + (long) USED_ELEM_SIZE * slot;
    }

    /** Offset of {@code used->avail_event}. */
    public static long availEventOffset(int size) {
        return RING_ENTRIES + (long) USED_ELEM_SIZE * size;
    }

    /**
     * The event-index test of virtio 1.2 section 2.7.7.2 / 2.7.10: the other side asked to be
     * notified once the index moves past {@code eventIdx}; this returns whether the index moving
     * from {@code oldIdx} to {@code newIdx} (all 16-bit, wrapping) crossed it, i.e. whether
     * {@code eventIdx} lies in {@code [oldIdx, newIdx)}.
     */
    public static boolean needEvent(int eventIdx, int newIdx, int oldIdx) {
        return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
    }
}
