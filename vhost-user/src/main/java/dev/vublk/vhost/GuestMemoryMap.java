package dev.vublk.vhost;

import dev.vublk.uring.MappedRegion;
import dev.vublk.uring.NativeException;
import dev.vublk.virtqueue.GuestMemory;
import dev.vublk.virtqueue.GuestMemoryException;
import dev.vublk.virtqueue.GuestRegion;
import java.util.ArrayList;
import java.util.List;

/**
 * The guest RAM the front-end shared: one mapping per region, made once, and the current
 * {@link GuestMemory} snapshot built from them. Callers change it only while no queue runs.
 * Descriptors passed in are not closed here: the caller owns them.
 */
public final class GuestMemoryMap implements AutoCloseable {
    private final List<MappedRegion> mappings = new ArrayList<>();
    private final List<GuestRegion> regions = new ArrayList<>();
    private GuestMemory snapshot = GuestMemory.empty();

    public GuestMemory memory() {
        return snapshot;
    }

    public boolean isEmpty() {
        return regions.isEmpty();
    }

    /** Regions mapped now. */
    public int regionCount() {
        return regions.size();
    }

    /** SET_MEM_TABLE: all regions replaced at once; on any failure the old table stays. */
    void replaceAll(List<MemoryRegionDescriptor> table, int[] fds) throws Refused {
        List<MappedRegion> newMappings = new ArrayList<>();
        List<GuestRegion> newRegions = new ArrayList<>();
        try {
            for (int i = 0; i < table.size(); i++) {
                MappedRegion m = map(table.get(i), fds[i]);
                newMappings.add(m);
                newRegions.add(region(table.get(i), m));
            }
            GuestMemory built = build(newRegions);
            closeMappings(mappings);
            mappings.clear();
            regions.clear();
            mappings.addAll(newMappings);
            regions.addAll(newRegions);
            snapshot = built;
        } catch (Refused e) {
            closeMappings(newMappings);
            throw e;
        }
    }

    /** ADD_MEM_REG. */
    void add(MemoryRegionDescriptor d, int fd) throws Refused {
        if (regions.size() >= ProtocolFeatures.MAX_MEM_SLOTS) {
            throw new Refused("all " + ProtocolFeatures.MAX_MEM_SLOTS + " memory slots are in use");
        }
        MappedRegion m = map(d, fd);
        List<GuestRegion> next = new ArrayList<>(regions);
        next.add(region(d, m));
        try {
            snapshot = build(next);
        } catch (Refused e) {
            m.close();
            throw e;
        }
        regions.add(next.getLast());
        mappings.add(m);
    }

    /** REM_MEM_REG: the region with this guest address, size and user address. */
    void remove(MemoryRegionDescriptor d) throws Refused {
        for (int i = 0; i < regions.size(); i++) {
            GuestRegion r = regions.get(i);
            if (r.guestAddress() == d.guestAddress() && r.size() == d.size() && r.userAddress() == d.userAddress()) {
                List<GuestRegion> next = new ArrayList<>(regions);
                next.remove(i);
                snapshot = build(next);
                regions.remove(i);
                mappings.remove(i).close();
                return;
            }
        }
        throw new Refused("no memory region at guest address 0x" + Long.toHexString(d.guestAddress())
                + " of " + d.size() + " bytes");
    }

    private static MappedRegion map(MemoryRegionDescriptor d, int fd) throws Refused {
        if (d.size() <= 0 || d.mmapOffset() < 0 || d.guestAddress() + d.size() < d.guestAddress()
                || d.userAddress() + d.size() < d.userAddress()) {
            throw new Refused("invalid memory region " + d);
        }
        try {
            // A mapping past the end of its file faults (SIGBUS) on first touch and would kill the
            // process: refuse a region its file cannot back.
            long fileSize = dev.vublk.uring.Fds.fileSize(fd);
            if (d.mmapOffset() > fileSize || d.size() > fileSize - d.mmapOffset()) {
                throw new Refused("memory region " + d + " reaches past the end of its "
                        + fileSize + "-byte file");
            }
            // The mapping covers the offset too: QEMU passes offsets that need not be page aligned.
            return MappedRegion.map(fd, 0, d.mmapOffset() + d.size(), true);
        } catch (NativeException e) {
            throw new Refused("cannot map memory region " + d + ": " + e.getMessage());
        }
    }

    private static GuestRegion region(MemoryRegionDescriptor d, MappedRegion m) {
        return new GuestRegion(d.guestAddress(), d.size(), d.userAddress(), d.mmapOffset(),
                m.segment().asSlice(d.mmapOffset(), d.size()));
    }

    private static GuestMemory build(List<GuestRegion> regions) throws Refused {
        try {
            return GuestMemory.of(regions);
        } catch (GuestMemoryException | IllegalArgumentException e) {
            throw new Refused(e.getMessage());
        }
    }

    private static void closeMappings(List<MappedRegion> list) {
        for (MappedRegion m : list) {
            m.close();
        }
    }

    @Override
    public void close() {
        closeMappings(mappings);
        mappings.clear();
        regions.clear();
        snapshot = GuestMemory.empty();
    }
}
