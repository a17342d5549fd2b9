package dev.vublk.tests.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.tests.backend.BackendKind;
import dev.vublk.tests.backend.InProcessBackend;
import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.GuestBuffer;
import dev.vublk.tests.frontend.GuestRam;
import dev.vublk.tests.frontend.Reply;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import dev.vublk.tests.frontend.VhostUserClient;
import dev.vublk.tests.frontend.VhostUserException;
import dev.vublk.tests.frontend.VirtqueueDriver;
import dev.vublk.uring.EventFd;
import dev.vublk.uring.Fds;
import dev.vublk.uring.MemFd;
import dev.vublk.vhost.InflightDescriptor;
import dev.vublk.vhost.MemoryRegionDescriptor;
import dev.vublk.vhost.MessageHeader;
import dev.vublk.vhost.MessageType;
import dev.vublk.vhost.Payloads;
import dev.vublk.vhost.VringAddress;
import dev.vublk.vhost.VringState;
import dev.vublk.virtqueue.RingLayout;
import dev.vublk.virtqueue.testing.UsedElement;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Malformed messages and descriptor chains against our backend. Each case asserts the exact
 * answer (ack value, empty reply, used length 0 with the status byte untouched, or a dropped
 * connection) and then that the backend still serves a normal request.
 */
class MalformedInputTest {
    static final int NEED_REPLY = MessageHeader.VERSION | MessageHeader.NEED_REPLY;
    static final int QUEUE_SIZE = 16;

    @TempDir
    Path dir;
    BackendFixture f;
    VhostUserBlkFrontend fe;
    VhostUserClient c;

    @BeforeEach
    void setUp() throws Exception {
        f = new BackendFixture(BackendKind.OURS_IN_PROCESS, dir);
        f.start(1);
        fe = f.open(FrontendOptions.qemu(1).withQueueSize(QUEUE_SIZE));
        c = fe.client();
        assertEquals(BlkCommand.S_OK, fe.queue(0).write(0, Patterns.bytes(0, 4096)).status());
    }

    @AfterEach
    void tearDown() throws Exception {
        try {
            assertTrue(((InProcessBackend) f.backend).alive(), "the server loop survived");
        } finally {
            f.close();
        }
    }

    /** The backend still answers messages and serves I/O on this connection. */
    void stillServes() {
        assertEquals(fe.offeredFeatures(), c.getFeatures());
        assertArrayEquals(Patterns.bytes(0, 4096), fe.queue(0).read(0, 4096).data());
    }

    /** A brand-new connection works (after one was dropped). */
    void newConnectionServes() throws Exception {
        VhostUserBlkFrontend next = f.open(FrontendOptions.cloudHypervisor(1));
        assertArrayEquals(Patterns.bytes(0, 4096), next.queue(0).read(0, 4096).data());
    }

    long ack(Reply r, MessageType expected) {
        assertEquals(expected.code(), r.header().request());
        return r.u64();
    }

    // ---- messages ----

    @Test
    void unknownMessageType() {
        c.sendRaw(99, NEED_REPLY, 0, new byte[0]);
        Reply r = c.receiveReplyTo(99);
        assertEquals(1, r.u64());
        c.sendRaw(1000, NEED_REPLY, 8, new byte[8]);
        assertEquals(1, c.receiveReplyTo(1000).u64());
        stillServes();
    }

    @Test
    void payloadLargerThanTheTypeAllows() {
        assertEquals(1, ack(c.exchange(MessageType.SET_FEATURES, ByteBuffer.allocate(16), true), MessageType.SET_FEATURES));
        assertEquals(1, ack(c.exchange(MessageType.SET_OWNER, ByteBuffer.allocate(8), true), MessageType.SET_OWNER));
        // A request that always replies is answered with an empty payload.
        Reply r = c.exchange(MessageType.GET_QUEUE_NUM, ByteBuffer.allocate(8), false);
        assertEquals(0, r.payload().length);
        // A GET_CONFIG whose declared size does not match its payload.
        ByteBuffer cfg = ByteBuffer.allocate(12 + 4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 0).putInt(4, 60);
        assertEquals(0, c.exchange(MessageType.GET_CONFIG, cfg, false).payload().length);
        stillServes();
    }

    @Test
    void hugePayloadDropsTheConnectionAndTheNextOneWorks() throws Exception {
        try {
            c.sendRaw(MessageType.SET_FEATURES.code(), NEED_REPLY, 100_000, new byte[100_000]);
        } catch (VhostUserException e) {
            // the backend may hang up while the payload is still being sent
        }
        assertTrue(c.awaitClosedByPeer());
        newConnectionServes();
    }

    @Test
    void badVersionDropsTheConnection() throws Exception {
        c.sendRaw(MessageType.GET_FEATURES.code(), 0x2, 0, new byte[0]);
        assertTrue(c.awaitClosedByPeer());
        newConnectionServes();
    }

    @Test
    void wrongDescriptorCounts() throws Exception {
        try (EventFd a = EventFd.create(); EventFd b = EventFd.create()) {
            assertEquals(1, ack(c.exchange(MessageType.SET_VRING_CALL, Payloads.u64(0), true, a.fd(), b.fd()),
                    MessageType.SET_VRING_CALL));
            assertEquals(1, ack(c.exchange(MessageType.SET_VRING_KICK, Payloads.u64(0), true), MessageType.SET_VRING_KICK));
            assertEquals(1, ack(c.exchange(MessageType.SET_VRING_ERR, Payloads.u64(0 | VhostUserClient.VRING_NOFD), true, a.fd()),
                    MessageType.SET_VRING_ERR));
            assertEquals(1, ack(c.exchange(MessageType.SET_OWNER, null, true, a.fd()), MessageType.SET_OWNER));
            var region = fe.ram().region(0).descriptor();
            assertEquals(1, ack(c.exchange(MessageType.ADD_MEM_REG, region.encodeSingle(), true), MessageType.ADD_MEM_REG));
            var table = MemoryRegionDescriptor.encodeTable(List.of(region,
                    new MemoryRegionDescriptor(1L << 32, 4096, 1L << 46, 0)));
            assertEquals(1, ack(c.exchange(MessageType.SET_MEM_TABLE, table, true, fe.ram().region(0).fd()),
                    MessageType.SET_MEM_TABLE));
        }
        stillServes();
    }

    /** Touching a mapping past the end of its file raises SIGBUS: such a region must never be mapped. */
    @Test
    void regionLargerThanItsFileIsRefused() throws Exception {
        int fd = MemFd.create("small", 1 << 20);
        try {
            var tooBig = new MemoryRegionDescriptor(1L << 32, 64L << 20, 1L << 46, 0);
            assertEquals(1, ack(c.exchange(MessageType.ADD_MEM_REG, tooBig.encodeSingle(), true, fd),
                    MessageType.ADD_MEM_REG));
            var pastEnd = new MemoryRegionDescriptor(1L << 32, 1 << 20, 1L << 46, 4096);
            assertEquals(1, ack(c.exchange(MessageType.ADD_MEM_REG, pastEnd.encodeSingle(), true, fd),
                    MessageType.ADD_MEM_REG));
        } finally {
            Fds.closeQuietly(fd);
        }
        stillServes();
    }

    /**
     * Every fixed-size request sent with an empty payload is refused with its error answer (an
     * ack of 1, or an empty reply for the requests that always reply), and the backend then
     * still serves this connection and a new one. A size-0 SET_VRING_KICK used to end the
     * process ("vhost-user-blk: null").
     */
    @Test
    void emptyPayloadsAreRefusedAndTheBackendKeepsServing() throws Exception {
        for (MessageType type : List.of(MessageType.SET_VRING_KICK, MessageType.SET_VRING_CALL, MessageType.SET_VRING_ERR,
                MessageType.SET_FEATURES, MessageType.SET_PROTOCOL_FEATURES, MessageType.SET_VRING_NUM,
                MessageType.SET_VRING_BASE, MessageType.SET_VRING_ADDR, MessageType.SET_VRING_ENABLE,
                MessageType.SET_MEM_TABLE, MessageType.ADD_MEM_REG, MessageType.REM_MEM_REG, MessageType.SET_LOG_BASE,
                MessageType.SET_CONFIG, MessageType.SET_INFLIGHT_FD)) {
            assertEquals(1, ack(c.exchange(type, null, true), type), type.toString());
        }
        for (MessageType type : List.of(MessageType.GET_VRING_BASE, MessageType.GET_CONFIG, MessageType.GET_INFLIGHT_FD)) {
            assertEquals(0, c.exchange(type, null, false).payload().length, type.toString());
        }
        stillServes();
        fe.close();
        newConnectionServes();
    }

    /** A pipe as kick would leave the queue thread waiting on it forever: refused, the ring keeps its eventfd. */
    @Test
    void kickThatIsNotAnEventfdIsRefused() throws Exception {
        int[] pipe = Fds.pipe();
        try {
            assertEquals(1, ack(c.exchange(MessageType.SET_VRING_KICK, Payloads.u64(0), true, pipe[0]), MessageType.SET_VRING_KICK));
            assertEquals(1, ack(c.exchange(MessageType.SET_VRING_CALL, Payloads.u64(0), true, pipe[1]), MessageType.SET_VRING_CALL));
        } finally {
            Fds.close(pipe[0]);
            Fds.close(pipe[1]);
        }
        stillServes();
    }

    /** A region whose memfd was truncated before it was sent cannot be mapped without SIGBUS. */
    @Test
    void truncatedMemfdRegionIsRefused() throws Exception {
        int fd = MemFd.create("truncated", 1 << 20);
        try {
            MemFd.resize(fd, 4096);
            var region = new MemoryRegionDescriptor(1L << 32, 1 << 20, 1L << 46, 0);
            assertEquals(1, ack(c.exchange(MessageType.ADD_MEM_REG, region.encodeSingle(), true, fd), MessageType.ADD_MEM_REG));
        } finally {
            Fds.close(fd);
        }
        stillServes();
    }

    /** An inflight area larger than its file (or at an offset past it) would fault when a queue touches it. */
    @Test
    void inflightFdTooSmallIsRefused() throws Exception {
        fe.close();
        fe = f.open(FrontendOptions.qemu(1).withQueueSize(QUEUE_SIZE).withInflight(true));
        c = fe.client();
        int fd = MemFd.create("inflight", 4096);
        try {
            var claimsMore = new InflightDescriptor(64 << 10, 0, 1, QUEUE_SIZE);
            assertEquals(1, ack(c.exchange(MessageType.SET_INFLIGHT_FD, claimsMore.encode(), true, fd), MessageType.SET_INFLIGHT_FD));
            var pastTheEnd = new InflightDescriptor(4096, 8192, 1, QUEUE_SIZE);
            assertEquals(1, ack(c.exchange(MessageType.SET_INFLIGHT_FD, pastTheEnd.encode(), true, fd), MessageType.SET_INFLIGHT_FD));
        } finally {
            Fds.close(fd);
        }
        assertEquals(BlkCommand.S_OK, fe.queue(0).write(0, Patterns.bytes(0, 4096)).status());
        stillServes();
    }

    @Test
    void queueIndexOutOfRange() throws Exception {
        assertEquals(1, ack(c.exchange(MessageType.SET_VRING_NUM, new VringState(5, 16).encode(), true), MessageType.SET_VRING_NUM));
        assertEquals(1, ack(c.exchange(MessageType.SET_VRING_BASE, new VringState(1, 0).encode(), true), MessageType.SET_VRING_BASE));
        assertEquals(1, ack(c.exchange(MessageType.SET_VRING_ENABLE, new VringState(-1, 1).encode(), true), MessageType.SET_VRING_ENABLE));
        assertEquals(1, ack(c.exchange(MessageType.SET_VRING_ADDR, new VringAddress(64, 0, 0, 0, 0, 0).encode(), true),
                MessageType.SET_VRING_ADDR));
        try (EventFd e = EventFd.create()) {
            assertEquals(1, ack(c.exchange(MessageType.SET_VRING_CALL, Payloads.u64(200), true, e.fd()), MessageType.SET_VRING_CALL));
        }
        assertEquals(0, c.exchange(MessageType.GET_VRING_BASE, new VringState(9, 0).encode(), false).payload().length);
        stillServes();
    }

    @Test
    void ringOutsideGuestMemoryIsRefusedAtQueueStart() throws Exception {
        VirtqueueDriver vq = fe.queue(0).virtqueue();
        c.setVringEnable(0, false);
        int base = c.getVringBase(0);
        VringAddress good = vq.address();
        VringAddress bad = new VringAddress(0, 0, 0x7000_0000_0000L, good.used(), good.available(), 0);
        assertEquals(0, ack(c.exchange(MessageType.SET_VRING_ADDR, bad.encode(), true), MessageType.SET_VRING_ADDR));
        c.setVringBase(0, base);
        c.setVringKick(0, vq.kickFd());
        // The ring cannot start: SET_VRING_ENABLE(1) is answered with an error.
        assertEquals(1, ack(c.exchange(MessageType.SET_VRING_ENABLE, new VringState(0, 1).encode(), true),
                MessageType.SET_VRING_ENABLE));
        // A used ring that straddles the end of guest RAM is refused too.
        long ramEnd = fe.ram().userAddress(0) + fe.ram().region(0).size();
        VringAddress straddling = new VringAddress(0, 0, good.descriptors(), ramEnd - 8, good.available(), 0);
        c.setVringEnable(0, false);
        assertEquals(0, ack(c.exchange(MessageType.SET_VRING_ADDR, straddling.encode(), true), MessageType.SET_VRING_ADDR));
        assertEquals(1, ack(c.exchange(MessageType.SET_VRING_ENABLE, new VringState(0, 1).encode(), true),
                MessageType.SET_VRING_ENABLE));
        c.setVringEnable(0, false);
        assertEquals(0, ack(c.exchange(MessageType.SET_VRING_ADDR, good.encode(), true), MessageType.SET_VRING_ADDR));
        assertEquals(0, ack(c.exchange(MessageType.SET_VRING_ENABLE, new VringState(0, 1).encode(), true),
                MessageType.SET_VRING_ENABLE));
        stillServes();
    }

    @Test
    void vringNumNotAPowerOfTwo() {
        c.setVringEnable(0, false);
        int base = c.getVringBase(0);
        assertEquals(1, ack(c.exchange(MessageType.SET_VRING_NUM, new VringState(0, 12).encode(), true), MessageType.SET_VRING_NUM));
        c.setVringNum(0, QUEUE_SIZE);
        c.setVringBase(0, base);
        c.setVringKick(0, fe.queue(0).virtqueue().kickFd()); // GET_VRING_BASE stopped the ring: it restarts on a new kick fd
        c.setVringEnable(0, true);
        stillServes();
    }

    // ---- descriptor chains ----

    /** Raw descriptors use the top indices of the table, which the chain allocator (lowest first) leaves alone. */
    static final int D0 = QUEUE_SIZE - 1, D1 = QUEUE_SIZE - 2, D2 = QUEUE_SIZE - 3;
    static final int NEXT = RingLayout.DESC_F_NEXT, WRITE = RingLayout.DESC_F_WRITE, INDIRECT = RingLayout.DESC_F_INDIRECT;

    GuestBuffer header;
    GuestBuffer data;
    GuestBuffer status;

    /** Header (IN, sector 0), a data buffer and a status byte preset to 0xff. */
    void buffers() {
        GuestRam ram = fe.ram();
        header = ram.allocate(0, 16, 16);
        ram.write(header, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(0, BlkCommand.IN).array());
        data = ram.allocate(0, 4096, 4096);
        status = ram.allocate(0, 1, 1);
        ram.write(status, new byte[] {(byte) 0xff});
    }

    /** Offers a hand-made chain at {@code head}, kicks, and expects it back with used length 0 and the status untouched. */
    void expectRejected(int head) {
        VirtqueueDriver vq = fe.queue(0).virtqueue();
        vq.ring().offer(head);
        vq.ring().publish();
        vq.kick();
        UsedElement e = vq.await(Duration.ofSeconds(10));
        assertEquals(new UsedElement(head, 0), e);
        assertEquals(0xff, fe.ram().read(status)[0] & 0xff, "status byte untouched");
        stillServes();
    }

    @Test
    void descriptorOutsideGuestMemory() {
        buffers();
        var ring = fe.queue(0).virtqueue().ring();
        ring.writeDescriptor(D0, header.gpa(), 16, NEXT, D1);
        ring.writeDescriptor(D1, 1L << 40, 4096, WRITE | NEXT, D2);
        ring.writeDescriptor(D2, status.gpa(), 1, WRITE, 0);
        expectRejected(D0);
        // A buffer that starts inside RAM and runs past its end.
        long end = fe.ram().region(0).size();
        ring.writeDescriptor(D1, end - 512, 4096, WRITE | NEXT, D2);
        expectRejected(D0);
    }

    @Test
    void loopingChain() {
        buffers();
        var ring = fe.queue(0).virtqueue().ring();
        ring.writeDescriptor(D0, header.gpa(), 16, NEXT, D1);
        ring.writeDescriptor(D1, data.gpa(), 4096, WRITE | NEXT, D0);
        expectRejected(D0);
        ring.writeDescriptor(D0, header.gpa(), 16, NEXT, D0); // a descriptor that points at itself
        expectRejected(D0);
    }

    @Test
    void chainLongerThanTheQueueAllows() {
        buffers();
        // A direct chain cannot exceed the table without looping, so the long chain is an indirect
        // table of 2048 entries: more than the queue allows (max(queue size, 1024)).
        int entries = 2048;
        GuestBuffer table = fe.ram().allocate(0, entries * 16, 16);
        var ring = fe.queue(0).virtqueue().ring();
        ring.writeTableDescriptor(table.gpa(), 0, header.gpa(), 16, NEXT, 1);
        for (int i = 1; i < entries - 1; i++) {
            ring.writeTableDescriptor(table.gpa(), i, data.gpa(), 1, WRITE | NEXT, i + 1);
        }
        ring.writeTableDescriptor(table.gpa(), entries - 1, status.gpa(), 1, WRITE, 0);
        ring.writeDescriptor(D0, table.gpa(), entries * 16, INDIRECT, 0);
        expectRejected(D0);
        // A next index beyond the queue size.
        ring.writeDescriptor(D0, header.gpa(), 16, NEXT, QUEUE_SIZE + 3);
        expectRejected(D0);
    }

    @Test
    void indirectTableWithBadLength() {
        buffers();
        GuestBuffer table = fe.ram().allocate(0, 64, 16);
        var ring = fe.queue(0).virtqueue().ring();
        ring.writeTableDescriptor(table.gpa(), 0, header.gpa(), 16, NEXT, 1);
        ring.writeTableDescriptor(table.gpa(), 1, status.gpa(), 1, WRITE, 0);
        ring.writeDescriptor(D0, table.gpa(), 24, INDIRECT, 0);
        expectRejected(D0);
        ring.writeDescriptor(D0, table.gpa(), 0, INDIRECT, 0);
        expectRejected(D0);
        // Indirect with NEXT, and a table outside guest memory.
        ring.writeDescriptor(D0, table.gpa(), 32, INDIRECT | NEXT, D1);
        ring.writeDescriptor(D1, status.gpa(), 1, WRITE, 0);
        expectRejected(D0);
        ring.writeDescriptor(D0, 1L << 41, 32, INDIRECT, 0);
        expectRejected(D0);
    }

    @Test
    void requestWithoutStatusByte() {
        buffers();
        var ring = fe.queue(0).virtqueue().ring();
        ring.writeDescriptor(D0, header.gpa(), 16, NEXT, D1);
        ring.writeDescriptor(D1, data.gpa(), 4096, 0, 0); // device-readable only: nowhere to put a status
        expectRejected(D0);
        // Header only.
        ring.writeDescriptor(D0, header.gpa(), 16, 0, 0);
        expectRejected(D0);
    }

    @Test
    void shortHeaderGetsIoErr() {
        buffers();
        var ring = fe.queue(0).virtqueue().ring();
        ring.writeDescriptor(D0, header.gpa(), 8, NEXT, D1); // 8 of the 16 header bytes
        ring.writeDescriptor(D1, status.gpa(), 1, WRITE, 0);
        VirtqueueDriver vq = fe.queue(0).virtqueue();
        vq.ring().offer(D0);
        vq.ring().publish();
        vq.kick();
        assertEquals(new UsedElement(D0, 1), vq.await(Duration.ofSeconds(10)));
        assertEquals(BlkCommand.S_IOERR, fe.ram().read(status)[0]);
        stillServes();
    }
}
