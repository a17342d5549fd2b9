package dev.vublk.tests.e2e;

import static dev.vublk.vhost.ProtocolFeatures.bit;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.tests.backend.BackendKind;
import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.BlkCompletion;
import dev.vublk.tests.frontend.BlkConfigView;
import dev.vublk.tests.frontend.BlkQueueDriver;
import dev.vublk.tests.frontend.BlkResult;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.GuestBuffer;
import dev.vublk.tests.frontend.GuestRam;
import dev.vublk.tests.frontend.RamRegion;
import dev.vublk.tests.frontend.Reply;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import dev.vublk.tests.frontend.VhostUserClient;
import dev.vublk.tests.frontend.VhostUserException;
import dev.vublk.tests.frontend.VhostUserRefused;
import dev.vublk.uring.NativeFile;
import dev.vublk.vhost.ConfigSpace;
import dev.vublk.vhost.MessageType;
import dev.vublk.vhost.Payloads;
import dev.vublk.vhost.ProtocolFeatures;
import dev.vublk.vhost.blk.BlkFeatures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * vhost-user and virtio-blk behaviour every conforming backend shares, run against ours and
 * against qemu-storage-daemon (which keeps the test frontend honest). Where qsd legitimately
 * differs (write-cache default, GET_ID text, discard policy, offered features) the test says so
 * and asserts qsd's behaviour instead of skipping.
 */
abstract class AbstractBlkProtocolTest {
    static final long SECTORS = BackendFixture.IMAGE_BYTES / 512;

    @TempDir
    Path dir;
    BackendFixture f;

    abstract BackendKind kind();

    /** Where the backend reads the image from; a file unless a subclass puts it on network storage. */
    BackendFixture.Store store() {
        return BackendFixture.Store.FILE;
    }

    @BeforeEach
    void setUp() throws Exception {
        f = new BackendFixture(kind(), dir, store());
    }

    @AfterEach
    void tearDown() throws Exception {
        f.close();
    }

    boolean qsd() {
        return f.isQsd();
    }

    // ---- negotiation ----

    @Test
    void featuresProtocolFeaturesOwnerAndQueueNum() throws Exception {
        f.start(4);
        VhostUserBlkFrontend fe = f.connect(FrontendOptions.qemu(1));
        VhostUserClient c = fe.client();
        long features = c.getFeatures();
        for (int b : new int[] {ProtocolFeatures.F_PROTOCOL_FEATURES, BlkFeatures.VERSION_1, BlkFeatures.FLUSH,
                BlkFeatures.BLK_SIZE, BlkFeatures.SEG_MAX, BlkFeatures.MQ, BlkFeatures.RING_INDIRECT_DESC,
                BlkFeatures.RING_EVENT_IDX, BlkFeatures.WRITE_ZEROES, BlkFeatures.DISCARD, BlkFeatures.CONFIG_WCE}) {
            assertTrue(ProtocolFeatures.has(features, b), "feature bit " + b + " in 0x" + Long.toHexString(features));
        }
        // Neither offers IN_ORDER (35) or NOTIFICATION_DATA (38), which would change cloud-hypervisor's behaviour.
        assertEquals(0, features & (bit(35) | bit(38)));
        long pf = c.getProtocolFeatures();
        long required = bit(ProtocolFeatures.MQ) | bit(ProtocolFeatures.REPLY_ACK) | bit(ProtocolFeatures.CONFIG)
                | bit(ProtocolFeatures.CONFIGURE_MEM_SLOTS) | bit(ProtocolFeatures.BACKEND_REQ);
        assertEquals(required, pf & required, "protocol features 0x" + Long.toHexString(pf));
        c.setProtocolFeatures(bit(ProtocolFeatures.MQ) | bit(ProtocolFeatures.REPLY_ACK) | bit(ProtocolFeatures.CONFIG));
        // From here on NEED_REPLY gets an ack with flags exactly REPLY | version 1 (checked by the client).
        Reply ack = c.exchange(MessageType.SET_OWNER, null, true);
        assertEquals(0, ack.u64());
        assertEquals(MessageType.SET_OWNER.code(), ack.header().request());
        assertEquals(4, c.getQueueNum());
        assertEquals(features, c.getFeatures(), "features do not change after SET_OWNER");
    }

    @Test
    void maxMemSlots() throws Exception {
        f.start(1);
        VhostUserClient c = f.connect(FrontendOptions.qemu(1)).client();
        c.getFeatures();
        c.setProtocolFeatures(c.getProtocolFeatures() & (bit(ProtocolFeatures.CONFIGURE_MEM_SLOTS) | bit(ProtocolFeatures.REPLY_ACK)));
        long slots = c.getMaxMemSlots();
        if (qsd()) {
            // libvhost-user (QEMU 7.2) reports its own VHOST_USER_MAX_RAM_SLOTS, 32.
            assertEquals(32, slots);
        } else {
            assertEquals(ProtocolFeatures.MAX_MEM_SLOTS, slots);
        }
    }

    // ---- config space ----

    @Test
    void configSpaceAndWriteCacheToggle() throws Exception {
        f.start(2);
        VhostUserBlkFrontend fe = f.open(FrontendOptions.qemu(2));
        VhostUserClient c = fe.client();
        for (int flags : new int[] {0, 1}) {
            ConfigSpace space = c.getConfig(0, BlkConfigView.SIZE, flags);
            assertEquals(0, space.offset());
            assertEquals(BlkConfigView.SIZE, space.size());
            BlkConfigView v = BlkConfigView.decode(space.data());
            assertEquals(SECTORS, v.capacity());
            assertEquals(512, v.blkSize());
            assertEquals(2, v.numQueues());
            // qsd: seg_max is its VHOST_USER_BLK_MAX_SEGMENTS - 2; ours: queue size (1024) - 2.
            assertEquals(qsd() ? 126 : 1022, v.segMax());
            // qsd reports write-through (wce 0) by default; ours a write-back cache (--write-cache on).
            assertEquals(qsd() ? 0 : 1, v.writeback());
        }
        // QEMU writes writeback with flags 0, cloud-hypervisor with flags 1: both are accepted.
        int initial = qsd() ? 0 : 1;
        c.setConfig(BlkConfigView.WRITEBACK_OFFSET, new byte[] {(byte) (1 - initial)}, 0);
        assertEquals(1 - initial, BlkConfigView.decode(c.getConfig(0, BlkConfigView.SIZE, 0).data()).writeback());
        c.setConfig(BlkConfigView.WRITEBACK_OFFSET, new byte[] {(byte) initial}, 0);
        assertEquals(initial, BlkConfigView.decode(c.getConfig(0, BlkConfigView.SIZE, 1).data()).writeback());
        if (qsd()) {
            // qsd acks SET_CONFIG with flags 1 and then drops the connection (libvhost-user panics on
            // the "no live migration" refusal): cloud-hypervisor's write-cache toggle would disconnect it.
            Reply ack = c.exchange(MessageType.SET_CONFIG,
                    new ConfigSpace(BlkConfigView.WRITEBACK_OFFSET, 1, 1, new byte[] {(byte) (1 - initial)}).encode(), true);
            assertEquals(0, ack.u64());
            assertThrows(VhostUserException.class, () -> c.getConfig(0, BlkConfigView.SIZE, 0));
            return;
        }
        c.setConfig(BlkConfigView.WRITEBACK_OFFSET, new byte[] {(byte) (1 - initial)}, 1);
        assertEquals(1 - initial, BlkConfigView.decode(c.getConfig(0, BlkConfigView.SIZE, 1).data()).writeback());
        c.setConfig(BlkConfigView.WRITEBACK_OFFSET, new byte[] {(byte) initial}, 1);
        assertEquals(initial, BlkConfigView.decode(c.getConfig(0, BlkConfigView.SIZE, 0).data()).writeback());
        // Any other field is read-only: refused with a non-zero ack.
        VhostUserRefused refused = assertThrows(VhostUserRefused.class, () -> c.setConfig(0, new byte[8], 0));
        assertEquals(1, refused.ack());
        // A partial read at an offset returns just that field.
        ConfigSpace blkSize = c.getConfig(20, 4, 0);
        assertArrayEquals(new byte[] {0, 2, 0, 0}, blkSize.data());
        // I/O works in both cache modes.
        BlkQueueDriver q = fe.queue(0);
        byte[] data = Patterns.bytes(1, 4096);
        assertEquals(BlkCommand.S_OK, q.write(0, data).status());
        assertArrayEquals(data, q.read(0, 4096).data());
    }

    // ---- both VMM orders, memory tables ----

    @Test
    void qemuOrderWithMemSlotsAndTwoRegions() throws Exception {
        f.start(1);
        VhostUserBlkFrontend fe = f.open(FrontendOptions.qemu(1).withRegions(32 * FrontendOptions.MiB, 32 * FrontendOptions.MiB));
        assertTrue(ProtocolFeatures.has(fe.client().protocolFeatures(), ProtocolFeatures.CONFIGURE_MEM_SLOTS));
        writeAndReadThroughRegion(fe, 1, 100);
        writeAndReadThroughRegion(fe, 0, 200);
    }

    @Test
    void cloudHypervisorOrderWithMemTableAndTwoRegions() throws Exception {
        f.start(2);
        VhostUserBlkFrontend fe = f.open(FrontendOptions.cloudHypervisor(2).withRegions(16 * FrontendOptions.MiB, 48 * FrontendOptions.MiB));
        writeAndReadThroughRegion(fe, 1, 300);
        writeAndReadThroughRegion(fe, 0, 400);
    }

    /** Data buffers in the given region; header and status stay in region 0. */
    static void writeAndReadThroughRegion(VhostUserBlkFrontend fe, int region, long sector) {
        GuestRam ram = fe.ram();
        BlkQueueDriver q = fe.queue(0);
        GuestBuffer out = ram.allocate(region, 8192, 4096);
        GuestBuffer in = ram.allocate(region, 8192, 4096);
        try {
            byte[] data = Patterns.bytes(sector, 8192);
            ram.write(out, data);
            BlkCompletion w = q.run(BlkCommand.write(sector, out));
            assertEquals(BlkCommand.S_OK, w.status());
            ram.fill(in, (byte) 0);
            BlkCompletion r = q.run(BlkCommand.read(sector, in));
            assertEquals(BlkCommand.S_OK, r.status());
            assertEquals(8193, r.usedLength());
            assertArrayEquals(data, ram.read(in));
        } finally {
            ram.free(out);
            ram.free(in);
        }
    }

    @Test
    void addAndRemoveMemoryRegionWhileTheQueueRuns() throws Exception {
        f.start(1);
        VhostUserBlkFrontend fe = f.open(FrontendOptions.qemu(1).withRegions(32 * FrontendOptions.MiB, 32 * FrontendOptions.MiB));
        RamRegion second = fe.ram().region(1);
        writeAndReadThroughRegion(fe, 1, 1000);
        fe.removeRegion(second); // acked: the queue stopped, the table changed, the queue resumed
        writeAndReadThroughRegion(fe, 0, 2000);
        fe.addRegion(second);
        writeAndReadThroughRegion(fe, 1, 3000);
        fe.removeRegion(second);
        fe.addRegion(second);
        writeAndReadThroughRegion(fe, 1, 4000);
        // Data written before the changes is intact.
        assertArrayEquals(Patterns.bytes(1000, 8192), fe.queue(0).read(1000, 8192).data());
    }

    // ---- request types ----

    @Test
    void readWriteFlushAndUsedLengths() throws Exception {
        f.start(1);
        BlkQueueDriver q = f.open(FrontendOptions.qemu(1)).queue(0);
        byte[] data = Patterns.bytes(7, 65536);
        BlkCompletion w = q.write(2048, data);
        assertEquals(BlkCommand.S_OK, w.status());
        assertEquals(1, w.usedLength(), "a write fills only the status byte");
        BlkResult r = q.read(2048, 65536);
        assertEquals(BlkCommand.S_OK, r.status());
        assertEquals(65537, r.usedLength(), "a read fills data and status");
        assertArrayEquals(data, r.data());
        BlkCompletion fl = q.flush();
        assertEquals(BlkCommand.S_OK, fl.status());
        assertEquals(1, fl.usedLength());
        // The last sector of the disk is usable, one past it is not.
        assertEquals(BlkCommand.S_OK, q.write(SECTORS - 1, Patterns.bytes(9, 512)).status());
        assertArrayEquals(Patterns.bytes(9, 512), q.read(SECTORS - 1, 512).data());
        assertEquals(BlkCommand.S_IOERR, q.read(SECTORS, 512).status());
        assertEquals(BlkCommand.S_IOERR, q.write(SECTORS - 1, new byte[1024]).status());
        assertEquals(BlkCommand.S_IOERR, q.read(Long.MAX_VALUE / 512, 512).status());
        // The image file holds what was written.
        try (NativeFile file = NativeFile.open(f.imageContent(), false, false)) {
            assertArrayEquals(data, file.readBytes(2048L * 512, data.length));
        }
    }

    @Test
    void getIdAnswersTheSerial() throws Exception {
        f.start(1);
        BlkResult id = f.open(FrontendOptions.qemu(1)).queue(0).getId();
        assertEquals(BlkCommand.S_OK, id.status());
        assertEquals(21, id.usedLength());
        // qsd answers a fixed "vhost_user_blk"; ours the configured serial (the fixture's "vublk-test").
        String expected = qsd() ? "vhost_user_blk" : "vublk-test";
        byte[] want = Arrays.copyOf(expected.getBytes(), 20);
        assertArrayEquals(want, id.data());
    }

    @Test
    void unknownRequestTypeIsUnsupported() throws Exception {
        f.start(1);
        VhostUserBlkFrontend fe = f.open(FrontendOptions.qemu(1));
        GuestBuffer b = fe.ram().allocate(0, 512, 512);
        BlkCompletion c = fe.queue(0).run(BlkCommand.ofType(99, 0, true, b));
        assertEquals(BlkCommand.S_UNSUPP, c.status());
        // GET_LIFETIME (10) and SECURE_ERASE (14) are not offered either.
        assertEquals(BlkCommand.S_UNSUPP, fe.queue(0).run(BlkCommand.ofType(14, 0, false, b)).status());
        assertEquals(BlkCommand.S_OK, fe.queue(0).read(0, 512).status());
    }

    @Test
    void discardAndWriteZeroes() throws Exception {
        f.start(1);
        BlkQueueDriver q = f.open(FrontendOptions.qemu(1)).queue(0);
        int len = 1 << 20;
        long sector = 4096;
        byte[] data = Patterns.bytes(11, len);
        assertEquals(BlkCommand.S_OK, q.write(sector, data).status());
        assertEquals(BlkCommand.S_OK, q.flush().status());
        long before = allocated();
        assertEquals(BlkCommand.S_OK, q.discard(sector, len / 512).status());
        long after = allocated();
        if (qsd()) {
            // qsd's blockdev defaults to discard=ignore: the request succeeds, nothing is deallocated.
            assertEquals(before, after);
        } else {
            assertTrue(after <= before - len, "allocation " + before + " -> " + after);
        }
        assertEquals(BlkCommand.S_OK, q.write(sector, data).status());
        assertEquals(BlkCommand.S_OK, q.writeZeroes(sector, 8, false).status());
        byte[] expect = data.clone();
        Arrays.fill(expect, 0, 4096, (byte) 0);
        assertArrayEquals(expect, q.read(sector, len).data());
        assertEquals(BlkCommand.S_OK, q.writeZeroes(sector + 8, 8, true).status());
        Arrays.fill(expect, 4096, 8192, (byte) 0);
        assertArrayEquals(expect, q.read(sector, len).data());
        // Ranges past the end fail.
        assertEquals(BlkCommand.S_IOERR, q.writeZeroes(SECTORS - 4, 8, false).status());
        assertEquals(BlkCommand.S_IOERR, q.discard(SECTORS, 8).status());
    }

    long allocated() throws Exception {
        try (NativeFile file = NativeFile.open(f.imageContent(), false, false)) {
            return file.allocatedBytes();
        }
    }

    @Test
    void indirectAndMultiSegmentChains() throws Exception {
        f.start(1);
        VhostUserBlkFrontend fe = f.open(FrontendOptions.qemu(1));
        assertTrue(ProtocolFeatures.has(fe.features(), BlkFeatures.RING_INDIRECT_DESC));
        BlkQueueDriver q = fe.queue(0);
        byte[] data = Patterns.bytes(21, 16384);
        assertEquals(BlkCommand.S_OK, q.write(64, data, true).status());
        BlkResult r = q.read(64, 16384, true);
        assertEquals(16385, r.usedLength());
        assertArrayEquals(data, r.data());
        // Scatter-gather: three buffers of odd sizes (multiples of 512), direct and indirect.
        GuestRam ram = fe.ram();
        for (boolean indirect : new boolean[] {false, true}) {
            GuestBuffer a = ram.allocate(0, 512, 8), b = ram.allocate(0, 1536, 8), c = ram.allocate(0, 2048, 8);
            BlkCompletion done = q.run(BlkCommand.read(64, a, b, c).indirect(indirect));
            assertEquals(BlkCommand.S_OK, done.status());
            assertEquals(4097, done.usedLength());
            byte[] got = new byte[4096];
            System.arraycopy(ram.read(a), 0, got, 0, 512);
            System.arraycopy(ram.read(b), 0, got, 512, 1536);
            System.arraycopy(ram.read(c), 0, got, 2048, 2048);
            assertArrayEquals(Arrays.copyOf(data, 4096), got);
            ram.write(a, Patterns.bytes(31, 512));
            ram.write(b, Patterns.bytes(32, 1536));
            ram.write(c, Patterns.bytes(33, 2048));
            assertEquals(BlkCommand.S_OK, q.run(BlkCommand.write(1000, a, b, c).indirect(indirect)).status());
            byte[] back = q.read(1000, 4096).data();
            assertArrayEquals(Patterns.bytes(31, 512), Arrays.copyOfRange(back, 0, 512));
            assertArrayEquals(Patterns.bytes(32, 1536), Arrays.copyOfRange(back, 512, 2048));
            assertArrayEquals(Patterns.bytes(33, 2048), Arrays.copyOfRange(back, 2048, 4096));
            ram.free(a);
            ram.free(b);
            ram.free(c);
        }
    }

    @Test
    void eventIdxOffAndOn() throws Exception {
        f.start(1);
        for (boolean eventIdx : new boolean[] {false, true}) {
            VhostUserBlkFrontend fe = f.open(FrontendOptions.qemu(1).withEventIdx(eventIdx).withQueueSize(16));
            assertEquals(eventIdx, ProtocolFeatures.has(fe.features(), BlkFeatures.RING_EVENT_IDX));
            BlkQueueDriver q = fe.queue(0);
            // More requests than the queue size: the ring wraps several times.
            for (int i = 0; i < 40; i++) {
                assertEquals(BlkCommand.S_OK, q.write(i * 8L, Patterns.bytes(i, 4096)).status());
            }
            for (int i = 0; i < 40; i++) {
                assertArrayEquals(Patterns.bytes(i, 4096), q.read(i * 8L, 4096).data());
            }
            var ring = q.virtqueue().ring();
            if (eventIdx) {
                // The device asks for a kick on the next entry.
                assertEquals(ring.availIdx(), ring.availEvent());
            } else {
                assertEquals(0, ring.usedFlags(), "idle device wants kicks (NO_NOTIFY clear)");
            }
            assertEquals(80, ring.deviceUsedIdx());
            int[] bases = fe.stop();
            assertEquals(80, bases[0]);
            fe.close();
        }
    }

    // ---- multiqueue ----

    @Test
    void twoQueuesConcurrentIo() throws Exception {
        f.start(2);
        new ConcurrentIoChecker(f.open(FrontendOptions.qemu(2)), SECTORS).run(400, f::imageContent);
    }

    @Test
    void fourQueuesConcurrentIoCloudHypervisorOrder() throws Exception {
        f.start(4);
        new ConcurrentIoChecker(f.open(FrontendOptions.cloudHypervisor(4)), SECTORS).run(200, f::imageContent);
    }

    // ---- vring state, reconnects, resets ----

    @Test
    void getVringBaseReturnsLastAvailIdxAndReconnectResumesThere() throws Exception {
        f.start(1);
        VhostUserBlkFrontend fe = f.open(FrontendOptions.qemu(1).withQueueSize(32));
        BlkQueueDriver q = fe.queue(0);
        for (int i = 0; i < 45; i++) {
            assertEquals(BlkCommand.S_OK, q.write(i * 8L, Patterns.bytes(100 + i, 4096)).status());
        }
        assertArrayEquals(new int[] {45}, fe.stop());
        // The backend listens again; the VMM reconnects with the same RAM and rings and base 45.
        fe.reconnect();
        for (int i = 0; i < 30; i++) {
            assertArrayEquals(Patterns.bytes(100 + i, 4096), q.read(i * 8L, 4096).data());
        }
        // A backend that restarted at 0 would have re-completed old heads: DriverQueue rejects those.
        assertEquals(75, q.virtqueue().ring().deviceUsedIdx());
        assertArrayEquals(new int[] {75}, fe.stop());
    }

    @Test
    void cloudHypervisorReconnectResumes() throws Exception {
        f.start(2);
        VhostUserBlkFrontend fe = f.open(FrontendOptions.cloudHypervisor(2));
        assertEquals(BlkCommand.S_OK, fe.queue(1).write(0, Patterns.bytes(5, 4096)).status());
        assertArrayEquals(new int[] {0, 1}, fe.stop());
        fe.reconnect();
        assertArrayEquals(Patterns.bytes(5, 4096), fe.queue(0).read(0, 4096).data());
        assertArrayEquals(Patterns.bytes(5, 4096), fe.queue(1).read(0, 4096).data());
        assertArrayEquals(new int[] {1, 2}, fe.stop());
    }

    @Test
    void disconnectThenNewConnectionSeesTheData() throws Exception {
        f.start(1);
        VhostUserBlkFrontend first = f.open(FrontendOptions.qemu(1));
        assertEquals(BlkCommand.S_OK, first.queue(0).write(80, Patterns.bytes(80, 8192)).status());
        // An abrupt disconnect with the queue running, as when a VMM is killed.
        first.close();
        VhostUserBlkFrontend second = f.open(FrontendOptions.cloudHypervisor(1));
        assertArrayEquals(Patterns.bytes(80, 8192), second.queue(0).read(80, 8192).data());
        second.close();
        VhostUserBlkFrontend third = f.open(FrontendOptions.qemu(1).withEventIdx(false));
        assertArrayEquals(Patterns.bytes(80, 8192), third.queue(0).read(80, 8192).data());
    }

    @Test
    void resetThenSetUpAgainOnTheSameConnection() throws Exception {
        f.start(1);
        VhostUserBlkFrontend fe = f.open(FrontendOptions.qemu(1));
        BlkQueueDriver q = fe.queue(0);
        assertEquals(BlkCommand.S_OK, q.write(0, Patterns.bytes(3, 4096)).status());
        int[] bases = fe.stop();
        if (ProtocolFeatures.has(fe.client().protocolFeatures(), ProtocolFeatures.RESET_DEVICE)) {
            fe.client().resetDevice();
        } else {
            // qsd (libvhost-user 7.2) does not offer RESET_DEVICE; QEMU falls back to RESET_OWNER.
            assertTrue(qsd());
            fe.client().resetOwner();
        }
        fe.bases(bases);
        fe.start();
        assertArrayEquals(Patterns.bytes(3, 4096), q.read(0, 4096).data());
        // RESET_OWNER too (deprecated, still sent by old QEMUs).
        fe.bases(fe.stop());
        fe.client().resetOwner();
        fe.start();
        assertEquals(BlkCommand.S_OK, q.write(8, Patterns.bytes(4, 4096)).status());
        assertArrayEquals(Patterns.bytes(4, 4096), q.read(8, 4096).data());
    }

    @Test
    void backendRequestChannelIsAccepted() throws Exception {
        f.start(1);
        VhostUserBlkFrontend fe = f.connect(FrontendOptions.qemu(1));
        VhostUserClient c = fe.client();
        c.getFeatures();
        c.setProtocolFeatures(bit(ProtocolFeatures.REPLY_ACK) | bit(ProtocolFeatures.BACKEND_REQ));
        try (var pair = dev.vublk.tests.frontend.SocketPair.create()) {
            Reply ack = c.exchange(MessageType.SET_BACKEND_REQ_FD, null, true, pair.theirs().fd());
            assertEquals(0, ack.u64());
        }
        assertNotEquals(0, c.getFeatures());
    }

    @Test
    void setVringNumNotAPowerOfTwoIsRefused() throws Exception {
        f.start(1);
        VhostUserClient c = f.connect(FrontendOptions.qemu(1)).client();
        c.getFeatures();
        c.setProtocolFeatures(bit(ProtocolFeatures.REPLY_ACK));
        if (qsd()) {
            // libvhost-user stores any size; the ring would fail later. Only ours refuses at once.
            assertEquals(0, c.exchange(MessageType.SET_VRING_NUM, new dev.vublk.vhost.VringState(0, 100).encode(), true).u64());
        } else {
            for (int bad : new int[] {100, 0, 3, 2048}) { // 2048: beyond the backend's maximum of 1024
                Reply ack = c.exchange(MessageType.SET_VRING_NUM, new dev.vublk.vhost.VringState(0, bad).encode(), true);
                assertEquals(1, ack.u64(), "SET_VRING_NUM " + bad);
            }
            assertEquals(0, c.exchange(MessageType.SET_VRING_NUM, new dev.vublk.vhost.VringState(0, 128).encode(), true).u64());
        }
        assertEquals(Payloads.U64, c.query(MessageType.GET_FEATURES, null).payload().length);
    }
}
