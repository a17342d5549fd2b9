package dev.vublk.virtqueue;

import dev.vublk.virtqueue.testing.DriverQueue;
import dev.vublk.virtqueue.testing.MockGuestMemory;

/**
 * A driver and a device on the same rings, in guest memory made of a 1 MiB region holding the
 * rings and most buffers, a GPA-adjacent region after it, a hole, and a far region.
 */
final class QueueFixture implements AutoCloseable {
    static final long RAM = 0, RAM_SIZE = 0x100000;
    static final long ADJACENT = RAM + RAM_SIZE, ADJACENT_SIZE = 0x10000;
    static final long HOLE = ADJACENT + ADJACENT_SIZE;
    static final long FAR = 0x200000, FAR_SIZE = 0x10000;
    /** Where tests put buffers and indirect tables. */
    static final long DATA = 0x40000, TABLES = 0x80000;

    final MockGuestMemory mock;
    final DriverQueue driver;
    final SplitQueue device;
    final DescriptorChain chain;

    QueueFixture(int size, boolean eventIdx) throws Exception {
        this(size, eventIdx, 0);
    }

    /** Both sides start with ring indices at {@code startIdx}. */
    QueueFixture(int size, boolean eventIdx, int startIdx) throws Exception {
        mock = new MockGuestMemory(RAM, RAM_SIZE, ADJACENT, ADJACENT_SIZE, FAR, FAR_SIZE);
        driver = DriverQueue.createAt(mock.memory(), size, RAM, eventIdx);
        driver.startAt(startIdx);
        device = SplitQueue.fromGuestAddresses(mock.memory(), size, driver.descGpa(), driver.availGpa(), driver.usedGpa(), eventIdx);
        device.setLastAvailIdx(startIdx);
        chain = device.newChain();
    }

    @Override
    public void close() {
        mock.close();
    }
}
