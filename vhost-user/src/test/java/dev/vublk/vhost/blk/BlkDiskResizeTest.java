package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.BlkRequestType.IN;
import static dev.vublk.vhost.blk.BlkRequestType.S_IOERR;
import static dev.vublk.vhost.blk.BlkRequestType.S_OK;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.uring.EventFd;
import dev.vublk.vhost.TestVrings;
import dev.vublk.vhost.Vring;
import dev.vublk.virtqueue.testing.DriverBuffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@link BlkDisk#resize} on a device whose queues run: {@link HoldingWorker}s keep reads in
 * flight until the test opens their gates, so the test sees what the queues were doing at the
 * moment the image changed.
 */
class BlkDiskResizeTest {
    private static final long OLD_SIZE = 1 << 20, NEW_SIZE = 2 << 20;
    private static final int QUEUE_SIZE = 64;

    @Test
    void theImageChangesOnlyOnceEveryQueueIsQuietAndRequestsPastTheOldEndWorkAfterwards() throws Exception {
        List<HoldingWorker> workers = new ArrayList<>();
        FakeImage image = new FakeImage(OLD_SIZE, false, ring -> {
            HoldingWorker w = new HoldingWorker(ring, -1);
            workers.add(w); // queues start one after the other: index = queue
            return w;
        });
        int[] readsAtResize = new int[2];
        int[] holdingAtResize = new int[2];
        image.onResize = n -> {
            for (int i = 0; i < 2; i++) {
                readsAtResize[i] = workers.get(i).reads;
                holdingAtResize[i] = workers.get(i).holding;
            }
        };
        BlkDisk disk = new BlkDisk(image, new BlkDeviceOptions(2, QUEUE_SIZE, "s", 512, true));
        BlkDevice device = disk.newDevice();
        try (BlkGuest g0 = new BlkGuest(QUEUE_SIZE, 4 << 20); BlkGuest g1 = new BlkGuest(QUEUE_SIZE, 4 << 20)) {
            EventFd kick0 = EventFd.create(), kick1 = EventFd.create();
            Vring v0 = TestVrings.configured(0, g0.driver, kick0, EventFd.create().fd(), EventFd.create(EventFd.EFD_NONBLOCK).fd());
            Vring v1 = TestVrings.configured(1, g1.driver, kick1, EventFd.create().fd(), EventFd.create(EventFd.EFD_NONBLOCK).fd());
            try {
                device.startQueue(v0, g0.mock.memory());
                device.startQueue(v1, g1.mock.memory());
                HoldingWorker w0 = workers.get(0), w1 = workers.get(1);
                List<DriverBuffer> before = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    before.add(read(g0, i));
                }
                kick0.write(1);
                HoldingWorker.await("three reads in flight on queue 0", () -> w0.holding == 3);

                CompletableFuture<Void> resize = CompletableFuture.runAsync(() -> {
                    try {
                        disk.resize(NEW_SIZE);
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
                HoldingWorker.await("the quiesce is asked for", () -> device.quiesce().requested() || resize.isDone());
                assertFalse(resize.isDone(), "the resize waits for the reads in flight");
                // Offered while quiescing: they must wait in the rings, then pass the new bound.
                DriverBuffer past0 = read(g0, OLD_SIZE / 512);
                DriverBuffer past1 = read(g1, OLD_SIZE / 512 + 8);
                kick0.write(1);
                kick1.write(1);
                w0.gate.write(1); // the reads in flight complete; only then may the image change
                resize.get(30, TimeUnit.SECONDS);

                assertEquals(3, readsAtResize[0], "queue 0 popped nothing new while quiescing");
                assertEquals(0, holdingAtResize[0], "queue 0 had nothing in flight when the image changed");
                assertEquals(0, readsAtResize[1], "queue 1 popped nothing new while quiescing");
                assertEquals(NEW_SIZE / 512, capacitySectors(device), "the config space reports the new size");

                HoldingWorker.await("both reads past the old end reach a worker or fail",
                        () -> w0.holding + w1.holding == 2 || g0.statusAt(past0) != BlkGuest.UNTOUCHED
                                || g1.statusAt(past1) != BlkGuest.UNTOUCHED);
                w0.gate.write(1);
                w1.gate.write(1);
                awaitUsed(g0, 4);
                awaitUsed(g1, 1);
                for (DriverBuffer s : before) {
                    assertEquals(S_OK, g0.statusAt(s));
                }
                assertEquals(S_OK, g0.statusAt(past0), "a read past the old end, within the new one");
                assertEquals(S_OK, g1.statusAt(past1), "a read past the old end, within the new one");
                DriverBuffer beyond = read(g1, NEW_SIZE / 512);
                kick1.write(1);
                awaitUsed(g1, 1);
                assertEquals(S_IOERR, g1.statusAt(beyond), "a read past the new end");
            } finally {
                for (HoldingWorker w : workers) {
                    w.gate.write(1); // whatever a failed assertion left held
                }
                device.stopQueue(v0);
                device.stopQueue(v1);
                TestVrings.release(v0);
                TestVrings.release(v1);
                for (HoldingWorker w : workers) {
                    w.gate.close();
                }
                kick0.close();
                kick1.close();
            }
        }
    }

    @Test
    void aResizeBetweenConnectionsReachesTheNextDevicesConfigSpace() throws Exception {
        BlkDisk disk = new BlkDisk(new FakeImage(OLD_SIZE, false, ring -> null), new BlkDeviceOptions(1, 64, "s", 512, true));
        disk.resize(NEW_SIZE);
        assertEquals(NEW_SIZE, disk.size());
        assertEquals(NEW_SIZE / 512, capacitySectors(disk.newDevice()));
    }

    @Test
    void sizesThatAreNoWholeNumberOfBlocksAndReadOnlyImagesAreRefused() {
        BlkDisk disk = new BlkDisk(new FakeImage(OLD_SIZE, false, ring -> null), new BlkDeviceOptions(1, 64, "s", 4096, true));
        String notBlocks = assertThrows(IllegalArgumentException.class, () -> disk.resize(NEW_SIZE + 512)).getMessage();
        assertTrue(notBlocks.contains("multiple of 4096"), notBlocks);
        assertThrows(IllegalArgumentException.class, () -> disk.resize(0));
        assertThrows(IllegalArgumentException.class, () -> disk.resize(-4096));
        assertEquals(OLD_SIZE, disk.size());
        BlkDisk readOnly = new BlkDisk(new FakeImage(OLD_SIZE, true, ring -> null), new BlkDeviceOptions(1, 64, "s", 512, true));
        String ro = assertThrows(UnsupportedOperationException.class, () -> readOnly.resize(NEW_SIZE)).getMessage();
        assertTrue(ro.contains("read-only"), ro);
        assertEquals(OLD_SIZE, readOnly.size());
    }

    @Test
    void anImageWithABackingFileGrowsButDoesNotShrink() throws Exception {
        FakeImage image = new FakeImage(OLD_SIZE, false, ring -> null);
        image.backing = new FakeImage(OLD_SIZE, true, ring -> null);
        BlkDisk disk = new BlkDisk(image, new BlkDeviceOptions(1, 64, "s", 512, true));
        String shrink = assertThrows(UnsupportedOperationException.class, () -> disk.resize(OLD_SIZE / 2)).getMessage();
        assertTrue(shrink.contains("backing image"), shrink);
        assertEquals(OLD_SIZE, disk.size());
        disk.resize(NEW_SIZE);
        assertEquals(NEW_SIZE, disk.size());
    }

    private static DriverBuffer read(BlkGuest g, long sector) {
        DriverBuffer status = g.status();
        g.submitIndirect(List.of(g.header(IN, sector), DriverBuffer.writable(g.data(512), 512), status));
        return status;
    }

    private static void awaitUsed(BlkGuest g, int count) throws InterruptedException {
        int[] seen = {0};
        HoldingWorker.await(count + " used entries", () -> {
            while (g.driver.pollUsed() != null) {
                seen[0]++;
            }
            return seen[0] >= count;
        });
        assertEquals(count, seen[0]);
    }

    private static long capacitySectors(BlkDevice device) {
        return ByteBuffer.wrap(device.config()).order(ByteOrder.LITTLE_ENDIAN).getLong(BlkConfig.CAPACITY);
    }
}
