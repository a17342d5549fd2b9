package dev.vublk.vhost;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * One queue's part of the inflight area (vhost-user.rst, "Inflight I/O tracking", split
 * virtqueues): which descriptor heads the back-end took and has not returned, in the order it
 * took them. It lives in a memfd the front-end keeps, so a restarted back-end finds the requests
 * the dead one never completed and resubmits them.
 *
 * <p>Layout: {@code u64 features; u16 version; u16 desc_num; u16 last_batch_head; u16 used_idx;}
 * then {@code desc_num} entries of {@code u8 inflight; u8 pad[5]; u16 next; u64 counter}.
 */
public final class InflightQueue {
    static final int HEADER = 16, ENTRY = 16, VERSION = 1;
    private static final long VERSION_AT = 8, DESC_NUM_AT = 10, LAST_BATCH_HEAD_AT = 12, USED_IDX_AT = 14;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT;

    private final MemorySegment region;
    private final int size;
    private long counter;
    private final int[] batch;
    private int batchLength;

    InflightQueue(MemorySegment region, int size) {
        this.region = region;
        this.size = size;
        this.batch = new int[size];
    }

    /** Bytes one queue of {@code size} takes, 64-byte aligned so queues do not share cache lines. */
    static long regionBytes(int size) {
        return (HEADER + (long) ENTRY * size + 63) & ~63L;
    }

    /** Formats a fresh region (GET_INFLIGHT_FD). */
    static void format(MemorySegment region, int size) {
        region.fill((byte) 0);
        region.set(U16, VERSION_AT, (short) VERSION);
        region.set(U16, DESC_NUM_AT, (short) size);
    }

    /** Whether the region was formatted for a queue of this size; otherwise it must not be trusted. */
    boolean matches() {
        return region.get(U16, VERSION_AT) == VERSION && Short.toUnsignedInt(region.get(U16, DESC_NUM_AT)) == size;
    }

    public int size() {
        return size;
    }

    private long entry(int head) {
        return HEADER + (long) ENTRY * head;
    }

    /** A head was taken from the available ring; its I/O starts after this. */
    public void taken(int head) {
        region.set(ValueLayout.JAVA_LONG, entry(head) + 8, ++counter);
        region.set(ValueLayout.JAVA_BYTE, entry(head), (byte) 1);
    }

    /** A head's used element was staged; it is part of the batch the next publish makes visible. */
    public void staged(int head) {
        region.set(U16, entry(head) + 6, region.get(U16, LAST_BATCH_HEAD_AT));
        region.set(U16, LAST_BATCH_HEAD_AT, (short) head);
        batch[batchLength++] = head;
    }

    /** The batch is visible in the used ring at {@code usedIdx}: its heads are no longer in flight. */
    public void published(int usedIdx) {
        for (int i = 0; i < batchLength; i++) {
            region.set(ValueLayout.JAVA_BYTE, entry(batch[i]), (byte) 0);
        }
        batchLength = 0;
        region.set(U16, USED_IDX_AT, (short) usedIdx);
    }

    /**
     * After a restart: repairs the last batch if the dead back-end published it without clearing
     * its flags, and returns the heads still in flight, oldest first.
     */
    public int[] recover(int usedIdx) {
        int recorded = Short.toUnsignedInt(region.get(U16, USED_IDX_AT));
        int lastBatch = (usedIdx - recorded) & 0xffff;
        if (lastBatch > 0 && lastBatch <= size) {
            int head = Short.toUnsignedInt(region.get(U16, LAST_BATCH_HEAD_AT));
            for (int i = 0; i < lastBatch && head < size; i++) {
                region.set(ValueLayout.JAVA_BYTE, entry(head), (byte) 0);
                head = Short.toUnsignedInt(region.get(U16, entry(head) + 6));
            }
        }
        region.set(U16, USED_IDX_AT, (short) usedIdx);
        int count = 0;
        long[] found = new long[size];
        for (int head = 0; head < size; head++) {
            if (region.get(ValueLayout.JAVA_BYTE, entry(head)) == 1) {
                long c = region.get(ValueLayout.JAVA_LONG, entry(head) + 8);
                counter = Math.max(counter, c);
                found[count++] = (c << 16) | head; // counters stay far below 2^47 in practice
            }
        }
        long[] ordered = Arrays.copyOf(found, count);
        Arrays.sort(ordered);
        int[] heads = new int[count];
        for (int i = 0; i < count; i++) {
            heads[i] = (int) (ordered[i] & 0xffff);
        }
        return heads;
    }
}
