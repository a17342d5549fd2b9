package dev.vublk.virtqueue;

import static dev.vublk.virtqueue.QueueFixture.ADJACENT;
import static dev.vublk.virtqueue.QueueFixture.DATA;
import static dev.vublk.virtqueue.QueueFixture.HOLE;
import static dev.vublk.virtqueue.QueueFixture.TABLES;
import static dev.vublk.virtqueue.RingLayout.DESC_F_INDIRECT;
import static dev.vublk.virtqueue.RingLayout.DESC_F_NEXT;
import static dev.vublk.virtqueue.RingLayout.DESC_F_WRITE;
import static dev.vublk.virtqueue.testing.DriverBuffer.readable;
import static dev.vublk.virtqueue.testing.DriverBuffer.writable;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.virtqueue.testing.DriverBuffer;
import dev.vublk.virtqueue.testing.UsedElement;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SplitQueueChainTest {
    private static final Duration QUICKLY = Duration.ofSeconds(5);
    private QueueFixture f;

    private QueueFixture fixture(int size) throws Exception {
        f = new QueueFixture(size, false);
        return f;
    }

    @AfterEach
    void close() {
        if (f != null) {
            f.close();
        }
    }

    private static List<DriverBuffer> blkRequest(long base) {
        return List.of(readable(base, 16), readable(base + 0x100, 512), writable(base + 0x400, 1));
    }

    private static void assertElements(DescriptorChain c, List<DriverBuffer> expected) {
        assertEquals(expected.size(), c.size(), c.toString());
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.get(i).gpa(), c.address(i), "address " + i);
            assertEquals(expected.get(i).length(), c.length(i), "length " + i);
            assertEquals(expected.get(i).writable(), c.isWritable(i), "writable " + i);
        }
    }

    /** Pops the one pending request and checks it failed for {@code reason}, leaving the queue usable. */
    private void assertRejected(ChainError reason, int head) {
        assertTimeoutPreemptively(QUICKLY, () -> assertEquals(head, f.device.pop(f.chain)));
        assertEquals(reason, f.chain.error(), f.chain.toString());
        assertFalse(f.chain.isValid());
        assertFalse(f.device.isBroken());
        // the device completes it with length 0 and the driver sees exactly that
        assertTrue(f.device.addUsed(head, 0));
        assertEquals(new UsedElement(head, 0), f.driver.pollUsed());
        // the next well-formed request still works
        int next = f.driver.submit(List.of(readable(DATA, 8)));
        assertEquals(next, f.device.pop(f.chain));
        assertTrue(f.chain.isValid());
        assertEquals(SplitQueue.NO_BUFFER, f.device.pop(f.chain));
    }

    /** Offers a raw descriptor chain starting at {@code head} and publishes it. */
    private void offerRaw(int head) {
        f.driver.offer(head);
        f.driver.publish();
    }

    @Test
    void directChain() throws Exception {
        fixture(16);
        List<DriverBuffer> request = blkRequest(DATA);
        int head = f.driver.submit(request);
        assertEquals(1, f.device.availableCount());
        assertEquals(head, f.device.pop(f.chain));
        assertTrue(f.chain.isValid());
        assertEquals(head, f.chain.head());
        assertElements(f.chain, request);
        assertEquals(2, f.chain.firstWritable());
        assertEquals(528, f.chain.readableBytes());
        assertEquals(1, f.chain.writableBytes());
        assertEquals(SplitQueue.NO_BUFFER, f.device.pop(f.chain));
        assertEquals(1, f.device.lastAvailIdx());
    }

    @Test
    void indirectChain() throws Exception {
        fixture(16);
        List<DriverBuffer> request = blkRequest(DATA);
        int head = f.driver.addIndirect(TABLES, request);
        offerRaw(head);
        assertEquals(head, f.device.pop(f.chain));
        assertTrue(f.chain.isValid(), f.chain.toString());
        assertElements(f.chain, request);
        assertEquals(15, f.driver.freeDescriptors(), "one ring descriptor used");
    }

    @Test
    void mixedChain() throws Exception {
        fixture(16);
        List<DriverBuffer> direct = List.of(readable(DATA, 16), readable(DATA + 0x20, 32));
        List<DriverBuffer> indirect = List.of(writable(DATA + 0x1000, 4096), writable(DATA + 0x3000, 100), writable(DATA + 0x4000, 1));
        int head = f.driver.addMixed(direct, TABLES, indirect);
        offerRaw(head);
        assertEquals(head, f.device.pop(f.chain));
        assertTrue(f.chain.isValid(), f.chain.toString());
        List<DriverBuffer> all = new ArrayList<>(direct);
        all.addAll(indirect);
        assertElements(f.chain, all);
        assertEquals(4197, f.chain.writableBytes());
    }

    @Test
    void writeFlagOnTheIndirectDescriptorIsIgnored() throws Exception {
        fixture(8);
        f.driver.writeTableDescriptor(TABLES, 0, DATA, 16, 0, 0);
        f.driver.writeDescriptor(3, TABLES, 16, DESC_F_INDIRECT | DESC_F_WRITE, 0);
        offerRaw(3);
        assertEquals(3, f.device.pop(f.chain));
        assertTrue(f.chain.isValid());
        assertFalse(f.chain.isWritable(0));
    }

    @Test
    void zeroLengthBuffersAreAccepted() throws Exception {
        fixture(8);
        int head = f.driver.submit(List.of(readable(DATA, 0), writable(0xdead_0000_0000L, 0), writable(DATA, 1)));
        assertEquals(head, f.device.pop(f.chain));
        assertTrue(f.chain.isValid(), f.chain.toString());
        assertEquals(3, f.chain.size());
    }

    @Test
    void bufferSpanningAdjacentRegionsIsAccepted() throws Exception {
        fixture(8);
        int head = f.driver.submit(List.of(writable(ADJACENT - 100, 300)));
        assertEquals(head, f.device.pop(f.chain));
        assertTrue(f.chain.isValid());
        List<Long> lengths = new ArrayList<>();
        assertEquals(2, f.chain.forEachPiece(true, 0, 300, (addr, len) -> lengths.add(len)));
        assertEquals(List.of(100L, 200L), lengths);
    }

    @Test
    void bufferReachingIntoAHoleIsRejected() throws Exception {
        fixture(8);
        int head = f.driver.submit(List.of(readable(DATA, 16), writable(HOLE - 10, 11)));
        assertRejected(ChainError.BUFFER_NOT_IN_MEMORY, head);
    }

    @Test
    void bufferWithTopBitAddressIsRejected() throws Exception {
        fixture(8);
        int head = f.driver.submit(List.of(readable(-4096, 16)));
        assertRejected(ChainError.BUFFER_NOT_IN_MEMORY, head);
    }

    @Test
    void maximalLengthBufferIsRejected() throws Exception {
        fixture(8);
        int head = f.driver.submit(List.of(readable(DATA, -1)));
        assertRejected(ChainError.BUFFER_NOT_IN_MEMORY, head);
    }

    @Test
    void loopingDirectChainIsRejected() throws Exception {
        fixture(8);
        f.driver.writeDescriptor(0, DATA, 16, DESC_F_NEXT, 1);
        f.driver.writeDescriptor(1, DATA, 16, DESC_F_NEXT, 2);
        f.driver.writeDescriptor(2, DATA, 16, DESC_F_NEXT, 0);
        offerRaw(0);
        assertRejected(ChainError.LOOP, 0);
    }

    @Test
    void selfLoopIsRejected() throws Exception {
        fixture(8);
        f.driver.writeDescriptor(5, DATA, 16, DESC_F_NEXT | DESC_F_WRITE, 5);
        offerRaw(5);
        assertRejected(ChainError.LOOP, 5);
    }

    @Test
    void chainOfTheWholeLargestQueueStopsAtTheChainLimitAndSoDoesALoop() throws Exception {
        fixture(RingLayout.MAX_QUEUE_SIZE);
        int size = RingLayout.MAX_QUEUE_SIZE;
        for (int i = 0; i < size - 1; i++) {
            f.driver.writeDescriptor(i, DATA, 1, DESC_F_NEXT, i + 1);
        }
        f.driver.writeDescriptor(size - 1, DATA, 1, 0, 0);
        offerRaw(0);
        assertTimeoutPreemptively(QUICKLY, () -> assertEquals(0, f.device.pop(f.chain)));
        assertEquals(ChainError.TOO_LONG, f.chain.error());
        assertEquals(SplitQueue.MAX_CHAIN_LENGTH, f.chain.size());
        f.device.addUsed(0, 0);
        f.driver.pollUsed();

        // A loop through the whole table: the chain limit, not the table size, ends the walk.
        f.driver.writeDescriptor(size - 1, DATA, 1, DESC_F_NEXT, 0);
        offerRaw(0);
        assertRejected(ChainError.TOO_LONG, 0);
    }

    @Test
    void loopInsideAnIndirectTableIsRejected() throws Exception {
        fixture(8);
        f.driver.writeTableDescriptor(TABLES, 0, DATA, 16, DESC_F_NEXT, 1);
        f.driver.writeTableDescriptor(TABLES, 1, DATA, 16, DESC_F_NEXT, 0);
        f.driver.writeDescriptor(2, TABLES, 32, DESC_F_INDIRECT, 0);
        offerRaw(2);
        assertRejected(ChainError.LOOP, 2);
    }

    @Test
    void tooManyBuffersAreRejected() throws Exception {
        fixture(16);
        int entries = SplitQueue.MAX_CHAIN_LENGTH;
        List<DriverBuffer> indirect = new ArrayList<>();
        for (int i = 0; i < entries; i++) {
            indirect.add(readable(DATA, 1));
        }
        // exactly the limit is fine
        int head = f.driver.addIndirect(TABLES, indirect);
        offerRaw(head);
        assertEquals(head, f.device.pop(f.chain));
        assertTrue(f.chain.isValid(), String.valueOf(f.chain.error()));
        assertEquals(entries, f.chain.size());
        f.device.addUsed(head, 0);
        f.driver.pollUsed();
        // one direct buffer in front makes it one too many
        head = f.driver.addMixed(List.of(readable(DATA, 1)), TABLES, indirect);
        offerRaw(head);
        assertRejected(ChainError.TOO_LONG, head);
    }

    @Test
    void oversizedIndirectTableIsRejected() throws Exception {
        fixture(16);
        f.driver.writeDescriptor(0, TABLES, (SplitQueue.MAX_CHAIN_LENGTH + 1) * 16, DESC_F_INDIRECT, 0);
        offerRaw(0);
        assertRejected(ChainError.INDIRECT_TOO_LARGE, 0);
    }

    @Test
    void indirectTableLengthMustBeANonZeroMultipleOf16() throws Exception {
        fixture(8);
        f.driver.writeDescriptor(0, TABLES, 24, DESC_F_INDIRECT, 0);
        offerRaw(0);
        assertRejected(ChainError.INDIRECT_BAD_LENGTH, 0);
        f.driver.writeDescriptor(1, TABLES, 0, DESC_F_INDIRECT, 0);
        offerRaw(1);
        assertRejected(ChainError.INDIRECT_BAD_LENGTH, 1);
        f.driver.writeDescriptor(2, TABLES, -16, DESC_F_INDIRECT, 0);
        offerRaw(2);
        assertRejected(ChainError.INDIRECT_TOO_LARGE, 2);
    }

    @Test
    void nestedIndirectIsRejected() throws Exception {
        fixture(8);
        f.driver.writeTableDescriptor(TABLES, 0, DATA, 16, DESC_F_NEXT, 1);
        f.driver.writeTableDescriptor(TABLES, 1, TABLES + 0x100, 16, DESC_F_INDIRECT, 0);
        f.driver.writeDescriptor(0, TABLES, 32, DESC_F_INDIRECT, 0);
        offerRaw(0);
        assertRejected(ChainError.NESTED_INDIRECT, 0);
    }

    @Test
    void indirectWithNextIsRejected() throws Exception {
        fixture(8);
        f.driver.writeTableDescriptor(TABLES, 0, DATA, 16, 0, 0);
        f.driver.writeDescriptor(0, TABLES, 16, DESC_F_INDIRECT | DESC_F_NEXT, 1);
        f.driver.writeDescriptor(1, DATA, 16, 0, 0);
        offerRaw(0);
        assertRejected(ChainError.INDIRECT_WITH_NEXT, 0);
    }

    @Test
    void indirectTableOutsideMemoryIsRejected() throws Exception {
        fixture(8);
        f.driver.writeDescriptor(0, HOLE - 16, 32, DESC_F_INDIRECT, 0);
        offerRaw(0);
        assertRejected(ChainError.INDIRECT_NOT_IN_MEMORY, 0);
    }

    @Test
    void indirectTableSpanningAdjacentRegionsIsRead() throws Exception {
        fixture(8);
        long table = ADJACENT - 32; // entries 0 and 1 in the first region, 2 in the next
        List<DriverBuffer> request = blkRequest(DATA);
        int head = f.driver.addIndirect(table, request);
        offerRaw(head);
        assertEquals(head, f.device.pop(f.chain));
        assertTrue(f.chain.isValid(), f.chain.toString());
        assertElements(f.chain, request);
    }

    @Test
    void nextIndexOutOfRangeIsRejected() throws Exception {
        fixture(8);
        f.driver.writeDescriptor(0, DATA, 16, DESC_F_NEXT, 8);
        offerRaw(0);
        assertRejected(ChainError.NEXT_OUT_OF_RANGE, 0);
        f.driver.writeDescriptor(1, DATA, 16, DESC_F_NEXT, 0xffff);
        offerRaw(1);
        assertRejected(ChainError.NEXT_OUT_OF_RANGE, 1);
    }

    @Test
    void nextInsideAnIndirectTableIsBoundedByTheTable() throws Exception {
        fixture(8);
        // the ring has 8 descriptors but this table only 2: next = 2 is outside it
        f.driver.writeTableDescriptor(TABLES, 0, DATA, 16, DESC_F_NEXT, 1);
        f.driver.writeTableDescriptor(TABLES, 1, DATA, 16, DESC_F_NEXT, 2);
        f.driver.writeTableDescriptor(TABLES, 2, DATA, 16, 0, 0);
        f.driver.writeDescriptor(0, TABLES, 32, DESC_F_INDIRECT, 0);
        offerRaw(0);
        assertRejected(ChainError.NEXT_OUT_OF_RANGE, 0);
    }

    @Test
    void readableAfterWritableIsRejected() throws Exception {
        fixture(8);
        int head = f.driver.submit(List.of(readable(DATA, 16), writable(DATA + 16, 16), readable(DATA + 32, 16)));
        assertRejected(ChainError.READABLE_AFTER_WRITABLE, head);
    }

    @Test
    void rejectedChainKeepsTheBuffersValidatedBeforeTheFault() throws Exception {
        fixture(8);
        int head = f.driver.submit(List.of(readable(DATA, 16), writable(DATA + 0x100, 1), writable(HOLE, 1)));
        assertEquals(head, f.device.pop(f.chain));
        assertEquals(ChainError.BUFFER_NOT_IN_MEMORY, f.chain.error());
        assertEquals(2, f.chain.size());
        assertEquals(DATA + 0x100, f.chain.sectionAddress(true, 0));
    }

    @Test
    void headOutOfRangeBreaksTheQueue() throws Exception {
        fixture(8);
        offerRaw(8);
        assertEquals(SplitQueue.BROKEN, f.device.pop(f.chain));
        assertTrue(f.device.isBroken());
        assertTrue(f.device.brokenReason().contains("head 8"), f.device.brokenReason());
        assertEquals(SplitQueue.BROKEN, f.device.pop(f.chain), "stays broken");
        assertFalse(f.device.enableKicks(), "a broken queue does not ask to be polled");
    }

    @Test
    void availIndexJumpingBeyondTheQueueSizeBreaksTheQueue() throws Exception {
        fixture(8);
        f.driver.setAvailIdx(9);
        assertTimeoutPreemptively(QUICKLY, () -> assertEquals(SplitQueue.BROKEN, f.device.pop(f.chain)));
        assertTrue(f.device.brokenReason().contains("more than the queue size"), f.device.brokenReason());
        assertEquals(0, f.device.availableCount());
    }

    @Test
    void availIndexExactlyAQueueAheadIsFine() throws Exception {
        fixture(4);
        for (int i = 0; i < 4; i++) {
            f.driver.offer(f.driver.addChain(List.of(readable(DATA, 4))));
        }
        f.driver.publish();
        assertEquals(4, f.device.availableCount());
        for (int i = 0; i < 4; i++) {
            assertTrue(f.device.pop(f.chain) >= 0);
        }
        assertEquals(SplitQueue.NO_BUFFER, f.device.pop(f.chain));
    }

    @Test
    void chainHolderMustFitTheQueue() throws Exception {
        fixture(8);
        assertThrows(IllegalArgumentException.class, () -> f.device.pop(new DescriptorChain(8)));
        assertEquals(SplitQueue.MAX_CHAIN_LENGTH, f.device.maxChainLength());
        assertNull(f.chain.error());
    }

    @Test
    void aDirectChainLongerThanTheLimitFailsOnALargeQueue() throws Exception {
        fixture(2048);
        assertEquals(SplitQueue.MAX_CHAIN_LENGTH, f.device.maxChainLength(), "not the queue size");
        int n = SplitQueue.MAX_CHAIN_LENGTH + 1;
        for (int i = 0; i < n; i++) {
            f.driver.writeDescriptor(i, DATA, 4, i + 1 < n ? DESC_F_NEXT : 0, i + 1);
        }
        f.driver.offer(0);
        f.driver.publish();
        assertEquals(0, f.device.pop(f.chain));
        assertEquals(ChainError.TOO_LONG, f.chain.error());
        assertEquals(SplitQueue.MAX_CHAIN_LENGTH, f.chain.size());
    }
}
