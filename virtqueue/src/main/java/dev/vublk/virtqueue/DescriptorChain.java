package dev.vublk.virtqueue;

import java.lang.foreign.MemorySegment;

/**
 * The buffers of one request, as {@link SplitQueue#pop} found them: a reusable holder (one per
 * queue thread) whose elements live in primitive arrays, so walking a chain allocates nothing.
 *
 * <p>Elements are in chain order; device-readable ones come first (index {@code 0} to
 * {@link #firstWritable()}{@code -1}), device-writable ones after (the queue rejects the other
 * order). Each element was checked against {@link #memory()} when popped, so every byte of every
 * element is guest RAM of that snapshot.
 *
 * <p>A chain that broke a rule still has its {@link #head()} (to be completed, normally with
 * used length 0) and {@link #error()} set; the elements validated before the fault are kept, so a
 * device may, at its discretion, still report an error status through the writable section.
 *
 * <p>The section helpers address the readable or the writable bytes as one contiguous stream:
 * for virtio-blk, the 16-byte header is {@code read(0, ...)} of the readable section, write data
 * follows it, read data is the writable section minus its last byte, which is the status.
 */
public final class DescriptorChain {
    private static final int MODE_PIECES = 0, MODE_READ = 1, MODE_WRITE = 2;

    private final long[] addresses;
    private final int[] lengths;
    private final boolean[] writable;
    private int head = -1;
    private int count;
    private int firstWritable;
    private long readableBytes;
    private long writableBytes;
    private ChainError error;
    private GuestMemory memory = GuestMemory.empty();

    /** A holder for chains of up to {@code capacity} buffers; see {@link SplitQueue#newChain()}. */
    public DescriptorChain(int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("capacity " + capacity);
        }
        addresses = new long[capacity];
        lengths = new int[capacity];
        writable = new boolean[capacity];
    }

    public int capacity() {
        return addresses.length;
    }

    /** Descriptor index to pass to {@link SplitQueue#addUsed}. */
    public int head() {
        return head;
    }

    /** The memory snapshot the elements were validated against. */
    public GuestMemory memory() {
        return memory;
    }

    public boolean isValid() {
        return error == null;
    }

    /** Why the chain was rejected, or null. */
    public ChainError error() {
        return error;
    }

    /** Number of (validated) buffers. */
    public int size() {
        return count;
    }

    /** Guest physical address of buffer {@code i}. */
    public long address(int i) {
        checkIndex(i);
        return addresses[i];
    }

    /** Length of buffer {@code i} in bytes (the descriptor's unsigned 32-bit len). */
    public long length(int i) {
        checkIndex(i);
        return Integer.toUnsignedLong(lengths[i]);
    }

    public boolean isWritable(int i) {
        checkIndex(i);
        return writable[i];
    }

    /** Index of the first device-writable buffer ({@link #size()} if none). */
    public int firstWritable() {
        return firstWritable;
    }

    /** Total bytes of the device-readable buffers. */
    public long readableBytes() {
        return readableBytes;
    }

    /** Total bytes of the device-writable buffers. */
    public long writableBytes() {
        return writableBytes;
    }

    /**
     * Delivers bytes {@code [offset, offset+length)} of the readable or the writable section as
     * host pieces (e.g. into an iovec array for io_uring).
     *
     * @return pieces delivered, {@link GuestMemory#UNMAPPED} if the range exceeds the section, or
     *         {@link GuestMemory#ABORTED} if the consumer stopped
     */
    public int forEachPiece(boolean writableSection, long offset, long length, PieceConsumer consumer) {
        return (int) transfer(writableSection, offset, length, MODE_PIECES, consumer, null, 0);
    }

    /** Copies readable-section bytes {@code [offset, offset+length)} to {@code dst}; false if out of range. */
    public boolean read(long offset, MemorySegment dst, long dstOffset, long length) {
        return transfer(false, offset, length, MODE_READ, null, dst, dstOffset) >= 0;
    }

    /** Copies {@code length} bytes of {@code src} into the writable section at {@code offset}; false if out of range. */
    public boolean write(MemorySegment src, long srcOffset, long offset, long length) {
        return transfer(true, offset, length, MODE_WRITE, null, src, srcOffset) >= 0;
    }

    /** Guest physical address of byte {@code offset} of a section, or -1 if out of range. */
    public long sectionAddress(boolean writableSection, long offset) {
        if (offset < 0) {
            return -1;
        }
        long skip = offset;
        for (int i = sectionStart(writableSection), end = sectionEnd(writableSection); i < end; i++) {
            long len = Integer.toUnsignedLong(lengths[i]);
            if (skip < len) {
                return addresses[i] + skip;
            }
            skip -= len;
        }
        return -1;
    }

    /**
     * Stores {@code value} in the last byte of the writable section (virtio-blk's status byte).
     *
     * @return false if the chain has no writable byte
     */
    public boolean putLastWritableByte(byte value) {
        long gpa = sectionAddress(true, writableBytes - 1);
        return gpa >= 0 && memory.putByte(gpa, value);
    }

    /** One walk over a section's elements for pieces, reads and writes. */
    private long transfer(boolean writableSection, long offset, long length, int mode,
                          PieceConsumer consumer, MemorySegment host, long hostOffset) {
        long total = writableSection ? writableBytes : readableBytes;
        if (offset < 0 || length < 0 || offset > total || length > total - offset) {
            return GuestMemory.UNMAPPED;
        }
        long skip = offset;
        long done = 0;
        long pieces = 0;
        for (int i = sectionStart(writableSection), end = sectionEnd(writableSection); i < end && done < length; i++) {
            long len = Integer.toUnsignedLong(lengths[i]);
            if (skip >= len) {
                skip -= len;
                continue;
            }
            long gpa = addresses[i] + skip;
            long n = Math.min(len - skip, length - done);
            skip = 0;
            switch (mode) {
                case MODE_PIECES -> {
                    int r = memory.forEachPiece(gpa, n, consumer);
                    if (r < 0) {
                        return r;
                    }
                    pieces += r;
                }
                case MODE_READ -> memory.read(gpa, host, hostOffset + done, n);
                default -> memory.write(host, hostOffset + done, gpa, n);
            }
            done += n;
        }
        return pieces;
    }

    private int sectionStart(boolean writableSection) {
        return writableSection ? firstWritable : 0;
    }

    private int sectionEnd(boolean writableSection) {
        return writableSection ? count : firstWritable;
    }

    private void checkIndex(int i) {
        if (i < 0 || i >= count) {
            throw new IndexOutOfBoundsException("element " + i + " of " + count);
        }
    }

    void reset(int headIndex, GuestMemory snapshot) {
        head = headIndex;
        memory = snapshot;
        count = 0;
        firstWritable = 0;
        readableBytes = 0;
        writableBytes = 0;
        error = null;
    }

    /**
     * Appends a buffer after checking it against the snapshot; returns the rule it breaks, if
     * any (in which case it is not appended).
     */
    ChainError add(long gpa, int length, boolean isWritable) {
        if (count == addresses.length) {
            return ChainError.TOO_LONG;
        }
        if (!isWritable && count > firstWritable) {
            return ChainError.READABLE_AFTER_WRITABLE;
        }
        long len = Integer.toUnsignedLong(length);
        if (!memory.isMapped(gpa, len)) {
            return ChainError.BUFFER_NOT_IN_MEMORY;
        }
        addresses[count] = gpa;
        lengths[count] = length;
        writable[count] = isWritable;
        count++;
        if (isWritable) {
            writableBytes += len;
        } else {
            readableBytes += len;
            firstWritable = count;
        }
        return null;
    }

    void fail(ChainError reason) {
        error = reason;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("DescriptorChain[head=").append(head);
        if (error != null) {
            sb.append(", error=").append(error);
        }
        for (int i = 0; i < count; i++) {
            sb.append(String.format(", %s 0x%x+%d", writable[i] ? "W" : "R", addresses[i], Integer.toUnsignedLong(lengths[i])));
        }
        return sb.append(']').toString();
    }
}
