package dev.vublk.virtqueue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * An immutable snapshot of the guest's RAM layout: non-overlapping {@link GuestRegion}s sorted by
 * guest physical address, each with the backend's mapping of it.
 *
 * <p>Every address a guest hands us (descriptor buffers, indirect tables) is resolved here, and
 * nothing outside a region is ever touched: a range is accepted only if each of its bytes lies in
 * some region, and a range that continues past a region's end is accepted only when the next
 * region starts exactly there (GPA-adjacent regions, as after memory hot-plug). Because two
 * GPA-adjacent regions are generally <em>not</em> adjacent in this process, such a range is
 * delivered as several host pieces ({@link #forEachPiece}).
 *
 * <p>Changes ({@code ADD_MEM_REG}, {@code REM_MEM_REG}) produce new snapshots ({@link #withRegion},
 * {@link #withoutRegion}); a queue thread keeps using the snapshot it holds until handed a new one,
 * so no lookup ever races with a table update. Lookups are a binary search over primitive arrays
 * (at most {@value #MAX_REGIONS} regions) and allocate nothing except the returned slices of
 * {@link #translate}; the hot path should prefer {@link #hostAddress} and {@link #forEachPiece}.
 *
 * <p>Addresses and lengths are {@code long}s treated as non-negative: a guest value with the top
 * bit set simply never matches a region.
 */
public final class GuestMemory {
    /** Most regions a memory table may hold (what the backend reports for GET_MAX_MEM_SLOTS). */
    public static final int MAX_REGIONS = 509;
    /** Result of {@link #forEachPiece}/{@link #countPieces}: some byte of the range is not guest RAM. */
    public static final int UNMAPPED = -1;
    /** Result of {@link #forEachPiece}: the consumer asked to stop. */
    public static final int ABORTED = -2;

    private static final GuestMemory EMPTY = new GuestMemory(new GuestRegion[0]);
    private static final int MODE_PIECES = 0, MODE_READ = 1, MODE_WRITE = 2;

    private final GuestRegion[] regions;
    private final long[] gpaStart;
    private final long[] gpaEnd;
    private final long[] hostBase;
    private final MemorySegment[] segments;
    private final long[] uvaStart;
    private final int[] uvaOrder;

    private GuestMemory(GuestRegion[] sortedByGpa) {
        int n = sortedByGpa.length;
        regions = sortedByGpa;
        gpaStart = new long[n];
        gpaEnd = new long[n];
        hostBase = new long[n];
        segments = new MemorySegment[n];
        for (int i = 0; i < n; i++) {
            GuestRegion r = sortedByGpa[i];
            gpaStart[i] = r.guestAddress();
            gpaEnd[i] = r.guestEnd();
            hostBase[i] = r.segment().address();
            segments[i] = r.segment();
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, Comparator.comparingLong(i -> sortedByGpa[i].userAddress()));
        uvaOrder = new int[n];
        uvaStart = new long[n];
        for (int i = 0; i < n; i++) {
            uvaOrder[i] = order[i];
            uvaStart[i] = sortedByGpa[order[i]].userAddress();
        }
    }

    /** A snapshot with no regions: every translation fails. */
    public static GuestMemory empty() {
        return EMPTY;
    }

    /**
     * Validates and snapshots a memory table.
     *
     * @throws GuestMemoryException if there are more than {@value #MAX_REGIONS} regions, a region
     *         is empty, wraps around, does not match its segment's size, or overlaps another region
     *         in guest-physical or frontend-virtual space
     */
    public static GuestMemory of(List<GuestRegion> regions) throws GuestMemoryException {
        if (regions.size() > MAX_REGIONS) {
            throw new GuestMemoryException("memory table has " + regions.size() + " regions, at most "
                    + MAX_REGIONS + " are supported");
        }
        GuestRegion[] sorted = regions.toArray(new GuestRegion[0]);
        for (GuestRegion r : sorted) {
            checkRegion(r);
        }
        Arrays.sort(sorted, Comparator.comparingLong(GuestRegion::guestAddress));
        for (int i = 1; i < sorted.length; i++) {
            if (sorted[i].guestAddress() < sorted[i - 1].guestEnd()) {
                throw new GuestMemoryException("guest-physical overlap between " + sorted[i - 1] + " and " + sorted[i]);
            }
        }
        GuestMemory memory = new GuestMemory(sorted);
        for (int k = 1; k < sorted.length; k++) {
            GuestRegion previous = sorted[memory.uvaOrder[k - 1]];
            GuestRegion current = sorted[memory.uvaOrder[k]];
            if (current.userAddress() < previous.userEnd()) {
                throw new GuestMemoryException("frontend-virtual overlap between " + previous + " and " + current);
            }
        }
        return memory;
    }

    private static void checkRegion(GuestRegion r) throws GuestMemoryException {
        if (r.size() <= 0) {
            throw new GuestMemoryException("empty or negative-size region " + r);
        }
        if (r.guestAddress() < 0 || r.size() > Long.MAX_VALUE - r.guestAddress()) {
            throw new GuestMemoryException("guest-physical range of " + r + " exceeds 2^63");
        }
        if (r.userAddress() < 0 || r.size() > Long.MAX_VALUE - r.userAddress()) {
            throw new GuestMemoryException("frontend-virtual range of " + r + " exceeds 2^63");
        }
        if (!r.segment().isNative() || r.segment().byteSize() != r.size()) {
            throw new GuestMemoryException("mapping of " + r + " is not a native segment of " + r.size()
                    + " bytes (it has " + r.segment().byteSize() + ")");
        }
    }

    /** A new snapshot with {@code region} added; this one is unchanged. */
    public GuestMemory withRegion(GuestRegion region) throws GuestMemoryException {
        List<GuestRegion> list = new ArrayList<>(regions());
        list.add(region);
        return of(list);
    }

    /**
     * A new snapshot without the region at exactly {@code guestAddress} / {@code size} (how
     * {@code REM_MEM_REG} identifies it). The caller unmaps the removed region's mapping once no
     * queue uses the old snapshot any more; {@link #find} returns it beforehand.
     *
     * @throws GuestMemoryException if no region matches exactly
     */
    public GuestMemory withoutRegion(long guestAddress, long size) throws GuestMemoryException {
        GuestRegion victim = find(guestAddress, size);
        if (victim == null) {
            throw new GuestMemoryException(String.format("no region at gpa=0x%x size=0x%x to remove", guestAddress, size));
        }
        List<GuestRegion> list = new ArrayList<>(regions());
        list.remove(victim);
        return of(list);
    }

    /** The region starting at exactly {@code guestAddress} with exactly {@code size}, or null. */
    public GuestRegion find(long guestAddress, long size) {
        int i = floorIndex(gpaStart, guestAddress);
        return i >= 0 && gpaStart[i] == guestAddress && regions[i].size() == size ? regions[i] : null;
    }

    /** The region containing {@code gpa}, or null. */
    public GuestRegion regionAt(long gpa) {
        int i = indexOf(gpa);
        return i < 0 ? null : regions[i];
    }

    /** The regions, sorted by guest physical address. */
    public List<GuestRegion> regions() {
        return List.of(regions);
    }

    public int regionCount() {
        return regions.length;
    }

    /**
     * The guest range {@code [gpa, gpa+length)} as a slice of one region's mapping, or null if the
     * range is not entirely inside a single region (use {@link #forEachPiece} for ranges that may
     * span adjacent regions). A zero-length range needs only {@code gpa} to be inside a region.
     */
    public MemorySegment translate(long gpa, long length) {
        int i = indexOf(gpa);
        if (i < 0 || length < 0 || length > gpaEnd[i] - gpa) {
            return null;
        }
        return segments[i].asSlice(gpa - gpaStart[i], length);
    }

    /**
     * Native address of {@code gpa} when {@code [gpa, gpa+length)} lies inside one region, else
     * {@code -1}. Allocation-free. The address stays valid only while the region stays mapped.
     */
    public long hostAddress(long gpa, long length) {
        int i = indexOf(gpa);
        if (i < 0 || length < 0 || length > gpaEnd[i] - gpa) {
            return -1;
        }
        return hostBase[i] + (gpa - gpaStart[i]);
    }

    /**
     * The frontend-virtual range {@code [uva, uva+length)} (vring addresses of
     * {@code SET_VRING_ADDR}) as a slice of one region's mapping, or null if it is not entirely
     * inside one region.
     */
    public MemorySegment translateUser(long uva, long length) {
        int k = floorIndex(uvaStart, uva);
        if (k < 0 || length < 0) {
            return null;
        }
        GuestRegion r = regions[uvaOrder[k]];
        long offset = uva - r.userAddress();
        if (offset >= r.size() || length > r.size() - offset) {
            return null;
        }
        return r.segment().asSlice(offset, length);
    }

    /** The guest physical address of frontend-virtual address {@code uva}, or -1. */
    public long userToGuest(long uva) {
        int k = floorIndex(uvaStart, uva);
        if (k < 0) {
            return -1;
        }
        GuestRegion r = regions[uvaOrder[k]];
        long offset = uva - r.userAddress();
        return offset < r.size() ? r.guestAddress() + offset : -1;
    }

    /** Whether every byte of {@code [gpa, gpa+length)} is guest RAM (possibly across adjacent regions). */
    public boolean isMapped(long gpa, long length) {
        return length == 0 || (length > 0 && firstRegionOf(gpa, length) >= 0);
    }

    /** Number of host pieces {@link #forEachPiece} would deliver, or {@link #UNMAPPED}. */
    public int countPieces(long gpa, long length) {
        if (length == 0) {
            return 0;
        }
        int first = length > 0 ? firstRegionOf(gpa, length) : -1;
        return first < 0 ? UNMAPPED : (int) walk(first, gpa, length, MODE_PIECES, null, null, 0);
    }

    /**
     * Delivers {@code [gpa, gpa+length)} to {@code consumer} as host-contiguous pieces, one per
     * region touched. The whole range is checked first, so the consumer is not called at all
     * when any byte is unmapped.
     *
     * @return the number of pieces delivered, {@link #UNMAPPED}, or {@link #ABORTED} if the
     *         consumer returned false (pieces before it were delivered)
     */
    public int forEachPiece(long gpa, long length, PieceConsumer consumer) {
        if (length == 0) {
            return 0;
        }
        int first = length > 0 ? firstRegionOf(gpa, length) : -1;
        return first < 0 ? UNMAPPED : (int) walk(first, gpa, length, MODE_PIECES, consumer, null, 0);
    }

    /** Copies guest {@code [gpa, gpa+length)} into {@code dst} at {@code dstOffset}; false if unmapped. */
    public boolean read(long gpa, MemorySegment dst, long dstOffset, long length) {
        return copy(gpa, length, MODE_READ, dst, dstOffset);
    }

    /** Copies {@code length} bytes of {@code src} at {@code srcOffset} to guest {@code gpa}; false if unmapped. */
    public boolean write(MemorySegment src, long srcOffset, long gpa, long length) {
        return copy(gpa, length, MODE_WRITE, src, srcOffset);
    }

    /** Stores one byte at guest {@code gpa}; false if it is not guest RAM. Allocation-free. */
    public boolean putByte(long gpa, byte value) {
        int i = indexOf(gpa);
        if (i < 0) {
            return false;
        }
        segments[i].set(ValueLayout.JAVA_BYTE, gpa - gpaStart[i], value);
        return true;
    }

    /** The byte at guest {@code gpa} (0..255), or -1 if it is not guest RAM. */
    public int getByte(long gpa) {
        int i = indexOf(gpa);
        return i < 0 ? -1 : segments[i].get(ValueLayout.JAVA_BYTE, gpa - gpaStart[i]) & 0xff;
    }

    private boolean copy(long gpa, long length, int mode, MemorySegment host, long hostOffset) {
        if (length == 0) {
            return true;
        }
        int first = length > 0 ? firstRegionOf(gpa, length) : -1;
        if (first < 0) {
            return false;
        }
        walk(first, gpa, length, mode, null, host, hostOffset);
        return true;
    }

    /**
     * Index of the region holding {@code gpa} if every byte of the (non-empty) range is mapped,
     * following GPA-adjacent regions; -1 otherwise. Bounded by the region count.
     */
    private int firstRegionOf(long gpa, long length) {
        int first = indexOf(gpa);
        if (first < 0) {
            return -1;
        }
        int i = first;
        long remaining = length - (gpaEnd[i] - gpa);
        while (remaining > 0) {
            if (i + 1 == gpaStart.length || gpaStart[i + 1] != gpaEnd[i]) {
                return -1;
            }
            i++;
            remaining -= gpaEnd[i] - gpaStart[i];
        }
        return first;
    }

    /** Walks an already validated range region by region; one routine for pieces, reads, writes. */
    private long walk(int first, long gpa, long length, int mode, PieceConsumer consumer, MemorySegment host, long hostOffset) {
        int i = first;
        long offset = gpa - gpaStart[i];
        long done = 0;
        int pieces = 0;
        while (done < length) {
            long n = Math.min(length - done, gpaEnd[i] - gpaStart[i] - offset);
            switch (mode) {
                case MODE_PIECES -> {
                    if (consumer != null && !consumer.accept(hostBase[i] + offset, n)) {
                        return ABORTED;
                    }
                }
                case MODE_READ -> MemorySegment.copy(segments[i], offset, host, hostOffset + done, n);
                default -> MemorySegment.copy(host, hostOffset + done, segments[i], offset, n);
            }
            pieces++;
            done += n;
            offset = 0;
            i++;
        }
        return pieces;
    }

    private int indexOf(long gpa) {
        int i = floorIndex(gpaStart, gpa);
        return i >= 0 && gpa < gpaEnd[i] ? i : -1;
    }

    /** Largest index whose start is {@code <= key}, or -1. */
    private static int floorIndex(long[] starts, long key) {
        int lo = 0, hi = starts.length - 1, found = -1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (starts[mid] <= key) {
                found = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        return found;
    }

    @Override
    public String toString() {
        return "GuestMemory" + Arrays.toString(regions);
    }
}
