package dev.vublk.virtqueue;

import static dev.vublk.virtqueue.QueueFixture.DATA;
import static dev.vublk.virtqueue.QueueFixture.FAR;
import static dev.vublk.virtqueue.testing.DriverBuffer.readable;
import static dev.vublk.virtqueue.testing.DriverBuffer.writable;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.virtqueue.testing.DriverQueue;
import dev.vublk.virtqueue.testing.MockGuestMemory;
import dev.vublk.virtqueue.testing.UsedElement;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SplitQueueRingTest {
    private QueueFixture f;

    @AfterEach
    void close() {
        if (f != null) {
            f.close();
        }
    }

    private int submitOne() {
        return f.driver.submit(List.of(readable(DATA, 16), writable(DATA + 16, 1)));
    }

    @Test
    void indicesWrapAround65535() throws Exception {
        f = new QueueFixture(8, true, 65530);
        assertEquals(65530, f.device.usedIdx(), "initial used idx comes from the ring");
        Deque<Integer> inFlight = new ArrayDeque<>();
        int completed = 0;
        for (int round = 0; round < 6; round++) {
            for (int i = 0; i < 3; i++) {
                inFlight.add(submitOne());
            }
            for (int i = 0; i < 3; i++) {
                int head = f.device.pop(f.chain);
                assertEquals(inFlight.peekFirst(), head, "round " + round);
                assertTrue(f.chain.isValid());
                f.device.stageUsed(head, 100 + completed);
                completed++;
                inFlight.removeFirst();
            }
            f.device.publishUsed();
            assertEquals(SplitQueue.NO_BUFFER, f.device.pop(f.chain));
            for (int i = 0; i < 3; i++) {
                UsedElement e = f.driver.pollUsed();
                assertEquals(100 + completed - 3 + i, e.length());
            }
            assertNull(f.driver.pollUsed());
        }
        assertEquals((65530 + 18) & 0xffff, f.device.lastAvailIdx());
        assertEquals(12, f.device.lastAvailIdx());
        assertEquals(12, f.device.usedIdx());
        assertEquals(12, f.driver.deviceUsedIdx());
    }

    @Test
    void stagedUsedElementsAreInvisibleUntilPublished() throws Exception {
        f = new QueueFixture(8, false);
        int a = submitOne(), b = submitOne(), c = submitOne();
        assertEquals(a, f.device.pop(f.chain));
        assertEquals(b, f.device.pop(f.chain));
        assertEquals(c, f.device.pop(f.chain));
        f.device.stageUsed(b, 2);
        f.device.stageUsed(a, 1);
        f.device.stageUsed(c, 3);
        assertNull(f.driver.pollUsed(), "nothing published yet");
        assertEquals(0, f.driver.deviceUsedIdx());
        assertTrue(f.device.publishUsed());
        assertEquals(3, f.driver.deviceUsedIdx());
        assertEquals(new UsedElement(b, 2), f.driver.pollUsed());
        assertEquals(new UsedElement(a, 1), f.driver.pollUsed());
        assertEquals(new UsedElement(c, 3), f.driver.pollUsed());
        assertNull(f.driver.pollUsed());
    }

    @Test
    void stagingMoreThanARingIsAProgrammingError() throws Exception {
        f = new QueueFixture(2, false);
        f.device.stageUsed(0, 0);
        f.device.stageUsed(1, 0);
        assertThrows(IllegalStateException.class, () -> f.device.stageUsed(0, 0));
        assertThrows(IllegalArgumentException.class, () -> f.device.addUsed(2, 0));
        assertThrows(IllegalArgumentException.class, () -> f.device.addUsed(-1, 0));
    }

    @Test
    void driverCatchesADoubleCompletion() throws Exception {
        f = new QueueFixture(8, false);
        int head = submitOne();
        assertEquals(head, f.device.pop(f.chain));
        f.device.addUsed(head, 0);
        f.device.addUsed(head, 0);
        assertEquals(head, f.driver.pollUsed().id());
        assertThrows(IllegalStateException.class, () -> f.driver.pollUsed());
    }

    /** Pops and completes {@code n} requests in one batch, then asks whether to notify. */
    private boolean completeBatch(int n) {
        for (int i = 0; i < n; i++) {
            f.driver.submit(List.of(writable(DATA, 1)));
        }
        for (int i = 0; i < n; i++) {
            int head = f.device.pop(f.chain);
            assertTrue(head >= 0);
            f.device.stageUsed(head, 1);
        }
        f.device.publishUsed();
        for (int i = 0; i < n; i++) {
            f.driver.pollUsed();
        }
        return f.device.needsNotification();
    }

    @Test
    void eventIdxNotificationsFollowUsedEventAcrossBatches() throws Exception {
        f = new QueueFixture(16, true);
        assertFalse(f.device.needsNotification(), "nothing published: no interrupt, even the first time");
        assertTrue(completeBatch(1), "first decision after setup always notifies");
        // used idx is 1; the driver wants an interrupt once element 5 is used (idx moves past 5)
        f.driver.setUsedEvent(5);
        assertFalse(completeBatch(2), "1 -> 3");
        assertFalse(completeBatch(2), "3 -> 5: element 5 not yet used");
        assertTrue(completeBatch(2), "5 -> 7 crosses 5");
        assertFalse(completeBatch(1), "7 -> 8: event 5 already signalled");
        assertFalse(f.device.needsNotification(), "no new elements");
        f.driver.setUsedEvent(8);
        assertTrue(completeBatch(4), "8 -> 12 crosses 8 at its first element");
        f.driver.setUsedEvent(20);
        assertTrue(completeBatch(16), "12 -> 28 crosses 20 in the middle");
        // a stale used_event far behind: no interrupt
        f.driver.setUsedEvent(10);
        assertFalse(completeBatch(3));
    }

    @Test
    void eventIdxNotificationsAcrossTheWrap() throws Exception {
        f = new QueueFixture(8, true, 65533);
        assertTrue(completeBatch(1), "first decision");
        f.driver.setUsedEvent(65535);
        assertFalse(completeBatch(1), "65534 -> 65535");
        assertTrue(completeBatch(2), "65535 -> 1 crosses 65535");
        f.driver.setUsedEvent(2);
        assertFalse(completeBatch(1), "1 -> 2");
        assertTrue(completeBatch(1), "2 -> 3");
    }

    @Test
    void setLastAvailIdxResetsTheNotificationHistory() throws Exception {
        f = new QueueFixture(8, true);
        assertTrue(completeBatch(1));
        f.driver.setUsedEvent(100);
        assertFalse(completeBatch(1));
        f.device.setLastAvailIdx(f.device.lastAvailIdx());
        assertTrue(completeBatch(1), "first decision after SET_VRING_BASE notifies");
    }

    @Test
    void withoutEventIdxTheNoInterruptFlagDecides() throws Exception {
        f = new QueueFixture(8, false);
        assertTrue(completeBatch(1));
        f.driver.disableInterrupts();
        assertFalse(completeBatch(2));
        assertFalse(f.driver.enableInterrupts(), "everything was polled");
        assertTrue(completeBatch(1));
        assertFalse(f.device.needsNotification(), "nothing new");
    }

    @Test
    void eventIdxKickSuppression() throws Exception {
        f = new QueueFixture(8, true);
        assertFalse(f.device.enableKicks(), "empty queue: safe to sleep");
        assertEquals(0, f.driver.availEvent());
        submitOne();
        assertTrue(f.driver.kickNeeded(), "avail_event 0 crossed by the first request");
        f.device.disableKicks();
        assertEquals(0, f.device.pop(f.chain) >= 0 ? 0 : -1);
        submitOne();
        assertFalse(f.driver.kickNeeded(), "device is busy and did not re-arm");
        assertTrue(f.device.enableKicks(), "a request arrived while processing: keep going");
        assertEquals(1, f.driver.availEvent(), "avail_event = lastAvailIdx");
        assertTrue(f.device.pop(f.chain) >= 0);
        assertFalse(f.device.enableKicks());
        assertEquals(2, f.driver.availEvent());
        submitOne();
        assertTrue(f.driver.kickNeeded());
    }

    @Test
    void enableKicksReportsPoppableEntriesAlreadySeen() throws Exception {
        f = new QueueFixture(8, true);
        submitOne();
        submitOne();
        assertEquals(2, f.device.availableCount());
        assertTrue(f.device.pop(f.chain) >= 0);
        assertTrue(f.device.enableKicks(), "one more is pending");
    }

    @Test
    void noNotifyFlagKickSuppression() throws Exception {
        f = new QueueFixture(8, false);
        submitOne();
        assertTrue(f.driver.kickNeeded());
        f.device.disableKicks();
        assertEquals(RingLayout.USED_F_NO_NOTIFY, f.driver.usedFlags());
        submitOne();
        assertFalse(f.driver.kickNeeded());
        assertTrue(f.device.enableKicks(), "requests pending");
        assertEquals(0, f.driver.usedFlags());
        assertTrue(f.device.pop(f.chain) >= 0);
        assertTrue(f.device.pop(f.chain) >= 0);
        assertFalse(f.device.enableKicks());
        submitOne();
        assertTrue(f.driver.kickNeeded());
    }

    @Test
    void lastAvailIdxIsSettableAndReadable() throws Exception {
        f = new QueueFixture(8, false, 300);
        assertEquals(300, f.device.lastAvailIdx());
        submitOne();
        assertTrue(f.device.pop(f.chain) >= 0);
        assertEquals(301, f.device.lastAvailIdx());
        f.device.setLastAvailIdx(70000);
        assertEquals(70000 & 0xffff, f.device.lastAvailIdx());
    }

    @Test
    void newMemorySnapshotsApplyToLaterRequests() throws Exception {
        f = new QueueFixture(8, false);
        long added = 0x400000;
        GuestMemory bigger = f.mock.memory().withRegion(f.mock.region(added, 0x1000));
        int head = f.driver.submit(List.of(writable(added, 16)));
        assertEquals(head, f.device.pop(f.chain));
        assertEquals(ChainError.BUFFER_NOT_IN_MEMORY, f.chain.error());
        f.device.addUsed(head, 0);
        f.driver.pollUsed();

        f.device.setMemory(bigger);
        head = f.driver.submit(List.of(writable(added, 16)));
        assertEquals(head, f.device.pop(f.chain));
        assertTrue(f.chain.isValid());
        assertEquals(bigger, f.chain.memory());

        f.device.setMemory(bigger.withoutRegion(FAR, QueueFixture.FAR_SIZE));
        head = f.driver.submit(List.of(writable(FAR, 16)));
        assertEquals(head, f.device.pop(f.chain));
        assertEquals(ChainError.BUFFER_NOT_IN_MEMORY, f.chain.error());
    }

    @Test
    void ringsResolvedFromUserAddresses() throws Exception {
        f = new QueueFixture(8, true);
        long user = MockGuestMemory.USER_BASE;
        SplitQueue viaUser = SplitQueue.fromUserAddresses(f.mock.memory(), 8, user + f.driver.descGpa(),
                user + f.driver.availGpa(), user + f.driver.usedGpa(), true);
        int head = submitOne();
        assertEquals(head, viaUser.pop(viaUser.newChain()));
        assertTrue(viaUser.addUsed(head, 7));
        assertEquals(new UsedElement(head, 7), f.driver.pollUsed());
    }

    @Test
    void badQueueSetupsAreRejected() throws Exception {
        f = new QueueFixture(8, true);
        GuestMemory mem = f.mock.memory();
        DriverQueue d = f.driver;
        assertThrows(VirtqueueException.class, () -> SplitQueue.fromGuestAddresses(mem, 12, d.descGpa(), d.availGpa(), d.usedGpa(), true));
        assertThrows(VirtqueueException.class, () -> SplitQueue.fromGuestAddresses(mem, 65536, d.descGpa(), d.availGpa(), d.usedGpa(), true));
        VirtqueueException e = assertThrows(VirtqueueException.class,
                () -> SplitQueue.fromGuestAddresses(mem, 8, QueueFixture.HOLE, d.availGpa(), d.usedGpa(), true));
        assertTrue(e.getMessage().contains("descriptor table"), e.getMessage());
        e = assertThrows(VirtqueueException.class,
                () -> SplitQueue.fromGuestAddresses(mem, 8, d.descGpa(), d.availGpa(), d.usedGpa() + 2, true));
        assertTrue(e.getMessage().contains("4-aligned"), e.getMessage());
        assertThrows(VirtqueueException.class,
                () -> SplitQueue.fromGuestAddresses(mem, 8, d.descGpa() + 8, d.availGpa(), d.usedGpa(), true));
        assertThrows(VirtqueueException.class,
                () -> SplitQueue.fromUserAddresses(mem, 8, d.descGpa(), d.availGpa(), d.usedGpa(), true), "GPAs are not UVAs here");
        MemorySegment small = Arena.ofAuto().allocate(64, 16);
        assertThrows(VirtqueueException.class, () -> new SplitQueue(8, small, small, small, false, mem));
    }

    @Test
    void closedRingMemoryBreaksTheQueueInsteadOfThrowing() throws Exception {
        f = new QueueFixture(8, false);
        submitOne();
        f.mock.close();
        assertEquals(SplitQueue.BROKEN, f.device.pop(f.chain));
        assertTrue(f.device.brokenReason().contains("unusable"), f.device.brokenReason());
        assertFalse(f.device.addUsed(0, 0));
    }

    @Test
    void headPostedAgainWhileOwnedBreaksTheQueue() throws Exception {
        f = new QueueFixture(8, true);
        int head = submitOne();
        assertEquals(head, f.device.pop(f.chain));
        assertTrue(f.device.isOwned(head));
        f.driver.offer(head); // the same descriptors again, before the device used them
        f.driver.publish();
        assertEquals(SplitQueue.BROKEN, f.device.pop(f.chain));
        assertEquals("avail ring entry 1 holds head " + head
                + ", which the device still owns (made available again before it was used)", f.device.brokenReason());
        assertEquals(1, f.device.ownedCount(), "no second request on the same head");
    }

    @Test
    void headUsedThenPostedAgainIsServed() throws Exception {
        f = new QueueFixture(8, true);
        int head = submitOne();
        assertEquals(head, f.device.pop(f.chain));
        assertTrue(f.device.addUsed(head, 1));
        assertFalse(f.device.isOwned(head));
        f.driver.offer(head);
        f.driver.publish();
        assertEquals(head, f.device.pop(f.chain));
        assertFalse(f.device.isBroken());
        assertEquals(1, f.device.ownedCount());
    }

    @Test
    void walkHeadOfAnOwnedHeadBreaksTheQueue() throws Exception {
        f = new QueueFixture(8, true);
        int head = submitOne();
        assertEquals(head, f.device.pop(f.chain));
        assertEquals(SplitQueue.BROKEN, f.device.walkHead(head, f.chain));
        assertEquals("head " + head + " is walked again while the device still owns it", f.device.brokenReason());
    }
    @Test
    void walkOwnedWalksAnOwnedHeadAgainAndNothingElse() throws Exception {
        f = new QueueFixture(8, true);
        int head = submitOne();
        int other = f.driver.submit(List.of(readable(DATA + 64, 32), writable(DATA + 128, 1)));
        assertEquals(head, f.device.pop(f.chain));
        DescriptorChain again = f.device.newChain();
        assertEquals(head, f.device.walkOwned(head, again), "a request held by the device, started anew");
        assertEquals(2, again.size());
        assertEquals(16, again.readableBytes());
        assertEquals(1, again.writableBytes());
        assertEquals(SplitQueue.BROKEN, f.device.walkOwned(other, again), "available, never popped: not the device's");
        assertTrue(f.device.addUsed(head, 1));
        assertEquals(SplitQueue.BROKEN, f.device.walkOwned(head, again), "used: the driver's again");
        assertFalse(f.device.isBroken(), "refusing a walk is not the driver's fault");
        assertEquals(other, f.device.pop(f.chain));
    }
}
