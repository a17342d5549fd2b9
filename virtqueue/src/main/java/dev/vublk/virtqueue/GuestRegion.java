package dev.vublk.virtqueue;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * One region of guest RAM as the frontend announces it (vhost-user {@code SET_MEM_TABLE} /
 * {@code ADD_MEM_REG}) together with the backend's mapping of it.
 *
 * @param guestAddress guest physical address (GPA) of the region's first byte
 * @param size         length in bytes
 * @param userAddress  the frontend's (VMM process) virtual address of the first byte; vring
 *                     addresses in {@code SET_VRING_ADDR} are expressed in this space
 * @param mmapOffset   offset of the region's first byte in the shared file descriptor; kept for
 *                     bookkeeping, the caller has already applied it when mapping
 * @param segment      native segment covering exactly the region's {@code size} bytes, i.e. the
 *                     mapping sliced at {@code mmapOffset} when the caller mapped from offset 0
 *                     (its byte size must equal {@code size}; {@link GuestMemory} checks this)
 */
public record GuestRegion(long guestAddress, long size, long userAddress, long mmapOffset, MemorySegment segment) {
    public GuestRegion {
        Objects.requireNonNull(segment, "segment");
    }

    /** First guest physical address past the region (no overflow once {@link GuestMemory} accepted it). */
    public long guestEnd() {
        return guestAddress + size;
    }

    /** First frontend virtual address past the region. */
    public long userEnd() {
        return userAddress + size;
    }

    @Override
    public String toString() {
        return String.format("GuestRegion[gpa=0x%x, size=0x%x, uva=0x%x, mmapOffset=0x%x]",
                guestAddress, size, userAddress, mmapOffset);
    }
}
