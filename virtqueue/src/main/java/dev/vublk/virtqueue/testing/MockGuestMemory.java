package dev.vublk.virtqueue.testing;

import dev.vublk.virtqueue.GuestMemory;
import dev.vublk.virtqueue.GuestMemoryException;
import dev.vublk.virtqueue.GuestRegion;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Guest memory for unit tests: each region is a separate page-aligned native allocation in a
 * shared arena, so GPA-adjacent regions are not adjacent in this process (code that wrongly
 * assumes so reads the wrong bytes). Frontend-virtual addresses are faked as
 * {@link #USER_BASE}{@code + gpa}.
 */
public final class MockGuestMemory implements AutoCloseable {
    /** Fake frontend-virtual address of GPA 0. */
    public static final long USER_BASE = 0x7f00_0000_0000L;

    private final Arena arena = Arena.ofShared();
    private final GuestMemory memory;

    /**
     * @param gpaSizePairs guest address and size of each region, alternating
     */
    public MockGuestMemory(long... gpaSizePairs) throws GuestMemoryException {
        if (gpaSizePairs.length % 2 != 0) {
            throw new IllegalArgumentException("gpa/size pairs expected");
        }
        List<GuestRegion> regions = new ArrayList<>();
        // Allocated last-first with a spacer, so host order differs from guest order.
        for (int i = gpaSizePairs.length - 2; i >= 0; i -= 2) {
            regions.add(region(gpaSizePairs[i], gpaSizePairs[i + 1]));
            arena.allocate(64);
        }
        try {
            memory = GuestMemory.of(regions);
        } catch (GuestMemoryException e) {
            arena.close();
            throw e;
        }
    }

    /** A region of this mock's arena at {@code gpa}, for {@link GuestMemory#withRegion} tests. */
    public GuestRegion region(long gpa, long size) {
        MemorySegment segment = arena.allocate(size, 4096);
        return new GuestRegion(gpa, size, USER_BASE + gpa, 0, segment);
    }

    public GuestMemory memory() {
        return memory;
    }

    /** Writes {@code data} at {@code gpa} (may span adjacent regions). */
    public void write(long gpa, byte[] data) {
        if (!memory.write(MemorySegment.ofArray(data), 0, gpa, data.length)) {
            throw new IllegalArgumentException(String.format("0x%x+%d is not guest memory", gpa, data.length));
        }
    }

    /** Reads {@code length} bytes at {@code gpa}. */
    public byte[] read(long gpa, int length) {
        byte[] data = new byte[length];
        if (!memory.read(gpa, MemorySegment.ofArray(data), 0, length)) {
            throw new IllegalArgumentException(String.format("0x%x+%d is not guest memory", gpa, length));
        }
        return data;
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
