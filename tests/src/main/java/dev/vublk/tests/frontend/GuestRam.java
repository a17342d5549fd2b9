package dev.vublk.tests.frontend;

import dev.vublk.uring.NativeException;
import dev.vublk.virtqueue.GuestMemory;
import dev.vublk.virtqueue.GuestMemoryException;
import dev.vublk.virtqueue.GuestRegion;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The test VM's RAM: memfd-backed regions, each with its own allocator. The frontend keeps every
 * region mapped even while the backend has been told to drop one (REM_MEM_REG), like a VMM
 * whose memory is being unplugged; {@link #memory()} always covers all of them.
 */
public final class GuestRam implements AutoCloseable {
    private final List<RamRegion> regions = new ArrayList<>();
    private final List<GuestHeap> heaps = new ArrayList<>();
    private volatile GuestMemory memory = GuestMemory.empty();

    /** Regions of the given sizes, placed one after the other from guest address 0 (GPA-adjacent). */
    public static GuestRam of(long... sizes) throws NativeException {
        GuestRam ram = new GuestRam();
        long gpa = 0;
        try {
            for (long size : sizes) {
                ram.addRegion(gpa, size);
                gpa += size;
            }
        } catch (NativeException | RuntimeException e) {
            ram.close();
            throw e;
        }
        return ram;
    }

    /** Creates and maps a new region at {@code gpa} (not yet announced to any backend). */
    public synchronized RamRegion addRegion(long gpa, long size) throws NativeException {
        RamRegion r = RamRegion.create(gpa, size);
        List<GuestRegion> all = new ArrayList<>();
        for (RamRegion existing : regions) {
            all.add(existing.guestRegion());
        }
        all.add(r.guestRegion());
        try {
            memory = GuestMemory.of(all);
        } catch (GuestMemoryException e) {
            r.close();
            throw new IllegalArgumentException(e.getMessage(), e);
        }
        regions.add(r);
        heaps.add(new GuestHeap(gpa, size));
        return r;
    }

    public synchronized List<RamRegion> regions() {
        return List.copyOf(regions);
    }

    public RamRegion region(int i) {
        return regions().get(i);
    }

    /** The frontend's view of all regions (for {@link dev.vublk.virtqueue.testing.DriverQueue}). */
    public GuestMemory memory() {
        return memory;
    }

    /** Allocates {@code length} bytes in region {@code regionIndex}. */
    public GuestBuffer allocate(int regionIndex, int length, int alignment) {
        GuestHeap heap;
        synchronized (this) {
            heap = heaps.get(regionIndex);
        }
        long gpa = heap.allocate(length, alignment);
        if (gpa < 0) {
            throw new IllegalStateException("guest RAM region " + regionIndex + " has no room for " + length + " bytes");
        }
        return new GuestBuffer(gpa, length);
    }

    /** Allocates in the first region with room. */
    public GuestBuffer allocate(int length, int alignment) {
        int n;
        synchronized (this) {
            n = heaps.size();
        }
        for (int i = 0; i < n; i++) {
            GuestHeap heap;
            synchronized (this) {
                heap = heaps.get(i);
            }
            long gpa = heap.allocate(length, alignment);
            if (gpa >= 0) {
                return new GuestBuffer(gpa, length);
            }
        }
        throw new IllegalStateException("guest RAM has no room for " + length + " bytes");
    }

    /** The frontend-virtual address of {@code gpa} (what SET_VRING_ADDR carries). */
    public long userAddress(long gpa) {
        GuestRegion r = memory.regionAt(gpa);
        if (r == null) {
            throw new IllegalArgumentException(String.format("0x%x is not guest RAM", gpa));
        }
        return r.userAddress() + (gpa - r.guestAddress());
    }

    public void free(GuestBuffer b) {
        GuestHeap owner = null;
        synchronized (this) {
            for (GuestHeap h : heaps) {
                if (h.owns(b.gpa())) {
                    owner = h;
                }
            }
        }
        if (owner == null) {
            throw new IllegalArgumentException("not guest RAM: " + b);
        }
        owner.free(b.gpa(), b.length());
    }

    /** The bytes at {@code b} in this process (no copy). */
    public MemorySegment segment(GuestBuffer b) {
        MemorySegment s = memory.translate(b.gpa(), b.length());
        if (s == null) {
            throw new IllegalArgumentException("not in one region: " + b);
        }
        return s;
    }

    public byte[] read(GuestBuffer b) {
        byte[] out = new byte[b.length()];
        MemorySegment.copy(segment(b), 0, MemorySegment.ofArray(out), 0, b.length());
        return out;
    }

    public void write(GuestBuffer b, byte[] data) {
        if (data.length > b.length()) {
            throw new IllegalArgumentException(data.length + " bytes into " + b);
        }
        MemorySegment.copy(MemorySegment.ofArray(data), 0, segment(b), 0, data.length);
    }

    public void fill(GuestBuffer b, byte value) {
        segment(b).fill(value);
    }

    @Override
    public synchronized void close() {
        memory = GuestMemory.empty();
        for (RamRegion r : regions) {
            r.close();
        }
        regions.clear();
        heaps.clear();
    }
}
