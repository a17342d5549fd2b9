package dev.vublk.vhost.blk;

import dev.vublk.block.BlockWorker;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoVecArray;
import dev.vublk.virtqueue.GuestMemory;
import dev.vublk.virtqueue.GuestRegion;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * A worker over a byte array that completes every operation at once, and checks that each
 * iovec it is handed lies inside one guest memory region: what the parser must guarantee
 * before the kernel is ever given an address.
 */
final class MemoryWorker implements BlockWorker {
    final byte[] disk;
    private final GuestMemory memory;
    /** One line per operation: "read 4096+512", "discard 0+4096", ... */
    final List<String> ops = new ArrayList<>();

    MemoryWorker(int diskBytes, GuestMemory memory) {
        this.disk = new byte[diskBytes];
        this.memory = memory;
    }

    @Override
    public void read(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        checkInGuest(buffers);
        checkOnDisk(offset, buffers.totalBytes());
        ops.add("read " + offset + "+" + buffers.totalBytes());
        buffers.copyFrom(MemorySegment.ofArray(disk), offset, 0, buffers.totalBytes());
        done.complete(tag, 0);
    }

    @Override
    public void write(long offset, IoVecArray buffers, IoCompletion done, long tag) {
        checkInGuest(buffers);
        checkOnDisk(offset, buffers.totalBytes());
        ops.add("write " + offset + "+" + buffers.totalBytes());
        buffers.copyTo(0, MemorySegment.ofArray(disk), offset, buffers.totalBytes());
        done.complete(tag, 0);
    }

    @Override
    public void flush(IoCompletion done, long tag) {
        ops.add("flush");
        done.complete(tag, 0);
    }

    @Override
    public void discard(long offset, long length, IoCompletion done, long tag) {
        checkOnDisk(offset, length);
        ops.add("discard " + offset + "+" + length);
        done.complete(tag, 0);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap, IoCompletion done, long tag) {
        checkOnDisk(offset, length);
        ops.add("write-zeroes " + offset + "+" + length + (mayUnmap ? " unmap" : ""));
        done.complete(tag, 0);
    }

    private void checkOnDisk(long offset, long length) {
        if (offset < 0 || length < 0 || offset > disk.length || length > disk.length - offset) {
            throw new AssertionError("operation at " + offset + "+" + length + " outside a disk of " + disk.length);
        }
    }

    private void checkInGuest(IoVecArray buffers) {
        for (int i = 0; i < buffers.count(); i++) {
            long address = buffers.address(i);
            long length = buffers.length(i);
            if (!insideOneRegion(address, length)) {
                throw new AssertionError(String.format("iovec %d at 0x%x+%d is outside guest memory", i, address, length));
            }
        }
    }

    private boolean insideOneRegion(long address, long length) {
        for (GuestRegion r : memory.regions()) {
            long base = r.segment().address();
            if (address >= base && length <= r.segment().byteSize() && address - base <= r.segment().byteSize() - length) {
                return true;
            }
        }
        return false;
    }
}
