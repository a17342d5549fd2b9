package dev.vublk.tests.frontend;

import dev.vublk.uring.Fds;
import dev.vublk.uring.MappedRegion;
import dev.vublk.uring.MemFd;
import dev.vublk.uring.NativeException;
import dev.vublk.vhost.MemoryRegionDescriptor;
import dev.vublk.virtqueue.GuestRegion;

/**
 * One slot of guest RAM as a VMM holds it: a memfd, its mapping in this process, and where the
 * guest sees it. The user address sent to the backend is the mapping's real address, as QEMU does.
 */
public final class RamRegion implements AutoCloseable {
    private final long guestAddress;
    private final long size;
    private final int fd;
    private final MappedRegion mapping;

    private RamRegion(long guestAddress, long size, int fd, MappedRegion mapping) {
        this.guestAddress = guestAddress;
        this.size = size;
        this.fd = fd;
        this.mapping = mapping;
    }

    /** A fresh zeroed memfd of {@code size} bytes (a multiple of 4 KiB) at guest address {@code gpa}. */
    public static RamRegion create(long gpa, long size) throws NativeException {
        if (size <= 0 || size % 4096 != 0) {
            throw new IllegalArgumentException("region size " + size);
        }
        int fd = MemFd.create("guest-ram@" + Long.toHexString(gpa), size);
        try {
            return new RamRegion(gpa, size, fd, MappedRegion.map(fd, 0, size, true));
        } catch (NativeException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
    }

    public long guestAddress() { return guestAddress; }

    public long size() { return size; }

    public long guestEnd() { return guestAddress + size; }

    /** The memfd; sent with SET_MEM_TABLE / ADD_MEM_REG (the backend gets its own copy). */
    public int fd() { return fd; }

    public long userAddress() { return mapping.address(); }

    public MemoryRegionDescriptor descriptor() {
        return new MemoryRegionDescriptor(guestAddress, size, userAddress(), 0);
    }

    GuestRegion guestRegion() {
        return new GuestRegion(guestAddress, size, userAddress(), 0, mapping.segment());
    }

    public boolean contains(long gpa, long length) {
        return gpa >= guestAddress && length >= 0 && gpa - guestAddress <= size - length;
    }

    @Override
    public void close() {
        mapping.close();
        Fds.closeQuietly(fd);
    }

    @Override
    public String toString() {
        return String.format("RamRegion[gpa 0x%x, %d bytes]", guestAddress, size);
    }
}
