package dev.vublk.vhost;

import static dev.vublk.vhost.ProtocolFeatures.bit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.uring.EventFd;
import dev.vublk.uring.Fds;
import dev.vublk.uring.MemFd;
import dev.vublk.uring.UnixSocket;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The control path against a mock device over a socketpair: every refusal is an exact error
 * reply, the connection survives it, nothing thrown leaves {@code run()}, and every descriptor a
 * request carried is either kept or closed.
 */
class BackendRequestHandlerTest {
    static final long RAM = 1 << 20, RAM_UVA = 0x7f00_0000_0000L;
    static final int QUEUE_SIZE = 16;

    MockDevice device;
    HandlerHarness h;
    int fdsBefore;
    int ram = -1;

    @BeforeEach
    void setUp() throws Exception {
        fdsBefore = Fds.openCount();
        device = new MockDevice();
        h = new HandlerHarness(device);
        h.negotiate(MockDevice.PROTOCOL_FEATURES);
    }

    @AfterEach
    void tearDown() throws Exception {
        h.close();
        Fds.closeQuietly(ram);
        assertEquals(fdsBefore, Fds.openCount(), "descriptors left open");
    }

    /** The connection still answers a plain request. */
    void stillServes() throws Exception {
        Message r = h.exchange(MessageType.GET_QUEUE_NUM, null);
        assertNotNull(r, "the handler hung up");
        assertEquals(MockDevice.QUEUES, r.payload().getLong(0));
        assertNull(h.endingNow(), "the handler ended");
    }

    /** Features with the protocol-feature bit acked, guest RAM, and queue 0 laid out in it. */
    void layOutQueue0() throws Exception {
        assertEquals(0, h.ack(MessageType.SET_FEATURES, Payloads.u64(bit(ProtocolFeatures.F_PROTOCOL_FEATURES))));
        ram = MemFd.create("ram", RAM);
        var region = new MemoryRegionDescriptor(0, RAM, RAM_UVA, 0);
        assertEquals(0, h.ack(MessageType.SET_MEM_TABLE, MemoryRegionDescriptor.encodeTable(List.of(region)), ram));
        assertEquals(0, h.ack(MessageType.SET_VRING_NUM, new VringState(0, QUEUE_SIZE).encode()));
        assertEquals(0, h.ack(MessageType.SET_VRING_ADDR,
                new VringAddress(0, 0, RAM_UVA, RAM_UVA + 0x2000, RAM_UVA + 0x1000, 0).encode()));
    }

    long kick(int queue) throws Exception {
        try (EventFd kick = EventFd.create()) {
            return h.ack(MessageType.SET_VRING_KICK, Payloads.u64(queue), kick.fd());
        }
    }

    @Test
    void everyTooShortPayloadIsRefusedAndTheConnectionLives() throws Exception {
        for (MessageType type : MessageType.values()) {
            if (type.minPayload() == 0) {
                continue;
            }
            try (EventFd e = EventFd.create()) {
                int[] fds = type.maxFds() > 0 ? new int[] {e.fd()} : new int[0];
                h.send(type, HandlerHarness.NEED_REPLY, ByteBuffer.allocate(type.minPayload() - 1), fds);
            }
            Message r = h.receive();
            assertNotNull(r, type + " ended the connection");
            assertEquals(type, r.type());
            if (type.alwaysReplies()) {
                assertEquals(0, r.size(), type + ": an empty reply is the failure");
            } else {
                assertEquals(1, r.payload().getLong(0), type + " was not refused");
            }
        }
        stillServes();
    }

    @Test
    void payloadsLongerThanTheTypeAllowsAreRefused() throws Exception {
        assertEquals(1, h.ack(MessageType.SET_VRING_NUM, ByteBuffer.allocate(16)));
        assertEquals(1, h.ack(MessageType.SET_OWNER, ByteBuffer.allocate(1)));
        assertEquals(1, h.ack(MessageType.ADD_MEM_REG, ByteBuffer.allocate(Payloads.SINGLE_REGION + 8)));
        stillServes();
    }

    @Test
    void replyAndReservedFlagsAreRefused() throws Exception {
        h.send(MessageType.SET_OWNER, HandlerHarness.NEED_REPLY | MessageHeader.REPLY, null);
        assertEquals(1, h.receive().payload().getLong(0));
        h.send(MessageType.SET_OWNER, HandlerHarness.NEED_REPLY | 0x100, null);
        assertEquals(1, h.receive().payload().getLong(0));
        h.send(MessageType.GET_FEATURES, HandlerHarness.FLAGS | 0x8000_0000, null);
        assertEquals(0, h.receive().size(), "GET_FEATURES always replies: empty means refused");
        assertEquals(0, h.ack(MessageType.SET_OWNER, null));
        stillServes();
    }

    @Test
    void unknownRequestCodesAreRefused() throws Exception {
        for (int code : new int[] {0, 26, 63, 64, 1000, -1}) {
            h.send(code, HandlerHarness.NEED_REPLY, 0, new byte[0]);
            Message r = h.receive();
            assertEquals(code, r.header().request());
            assertEquals(1, r.payload().getLong(0));
        }
        stillServes();
    }

    @Test
    void descriptorsARequestDoesNotTakeAreClosed() throws Exception {
        try (EventFd a = EventFd.create(); EventFd b = EventFd.create()) {
            assertEquals(1, h.ack(MessageType.SET_FEATURES, Payloads.u64(0), a.fd()));
            assertEquals(1, h.ack(MessageType.SET_VRING_CALL, Payloads.u64(0), a.fd(), b.fd()));
            assertEquals(1, h.ack(MessageType.SET_VRING_CALL, Payloads.u64(0x100), a.fd()));
            assertEquals(1, h.ack(MessageType.SET_VRING_KICK, Payloads.u64(0x200), a.fd()));
        }
        stillServes(); // the fd count in tearDown shows the handler closed what it received
    }

    /** A pipe as kick or call would block the queue thread reading or writing it forever. */
    @Test
    void kickCallAndErrDescriptorsMustBeEventfds() throws Exception {
        int[] pipe = Fds.pipe();
        int memfd = MemFd.create("not-an-eventfd", 4096);
        try {
            for (MessageType type : List.of(MessageType.SET_VRING_KICK, MessageType.SET_VRING_CALL, MessageType.SET_VRING_ERR)) {
                assertEquals(1, h.ack(type, Payloads.u64(0), pipe[0]), type + " with a pipe");
                assertEquals(1, h.ack(type, Payloads.u64(1), memfd), type + " with a memfd");
            }
        } finally {
            Fds.close(pipe[0]);
            Fds.close(pipe[1]);
            Fds.close(memfd);
        }
        assertEquals(0, kick(0));
        stillServes();
    }

    @Test
    void backendRequestChannelMustBeASocket() throws Exception {
        int[] pipe = Fds.pipe();
        UnixSocket[] pair = UnixSocket.pair();
        try {
            assertEquals(1, h.ack(MessageType.SET_BACKEND_REQ_FD, null, pipe[1]));
            assertEquals(0, h.ack(MessageType.SET_BACKEND_REQ_FD, null, pair[0].fd()));
        } finally {
            Fds.close(pipe[0]);
            Fds.close(pipe[1]);
            pair[0].close();
            pair[1].close();
        }
        stillServes();
    }

    /**
     * The device sends on the channel SET_BACKEND_REQ_FD gave, with the features negotiated
     * before; a second channel replaces it, and the device loses it when the connection ends.
     */
    @Test
    void theDeviceGetsTheBackendChannelAndLosesItWithTheConnection() throws Exception {
        UnixSocket[] first = UnixSocket.pair(), second = UnixSocket.pair();
        try {
            assertEquals(0, h.ack(MessageType.SET_BACKEND_REQ_FD, null, first[0].fd()));
            BackendChannel one = device.channel;
            assertNotNull(one);
            assertEquals(0, h.ack(MessageType.SET_BACKEND_REQ_FD, null, second[0].fd()));
            BackendChannel two = device.channel;
            assertNotNull(two);
            assertEquals(BackendChannel.Outcome.FAILED, one.configChanged(), "the replaced channel is closed");

            java.util.concurrent.CompletableFuture<BackendChannel.Outcome> sent =
                    java.util.concurrent.CompletableFuture.supplyAsync(two::configChanged);
            java.lang.foreign.MemorySegment b = java.lang.foreign.Arena.ofAuto().allocate(20, 8);
            second[1].receiveFully(b, MessageHeader.SIZE);
            MessageHeader got = MessageHeader.decode(b.asSlice(0, MessageHeader.SIZE).asByteBuffer());
            assertEquals(new MessageHeader(2, MessageHeader.VERSION | MessageHeader.NEED_REPLY, 0), got);
            new MessageHeader(2, MessageHeader.REPLY | MessageHeader.VERSION, 8).encode(b.asSlice(0, 12).asByteBuffer());
            second[1].send(b, 20);
            assertEquals(BackendChannel.Outcome.ACKED, sent.get(10, java.util.concurrent.TimeUnit.SECONDS));

            h.close();
            h = new HandlerHarness(new MockDevice()); // tearDown closes a harness of its own
            assertNull(device.channel, "the connection ended");
            assertEquals(BackendChannel.Outcome.FAILED, two.configChanged(), "its channel is closed");
        } finally {
            for (UnixSocket s : new UnixSocket[] {first[0], first[1], second[0], second[1]}) {
                s.close();
            }
        }
    }

    @Test
    void malformedMemoryTablesAreRefused() throws Exception {
        int small = MemFd.create("small", 64 << 10);
        try {
            var ok = new MemoryRegionDescriptor(0, 64 << 10, RAM_UVA, 0);
            ByteBuffer none = ByteBuffer.allocate(8);
            assertEquals(1, h.ack(MessageType.SET_MEM_TABLE, none), "no regions");
            ByteBuffer padded = ByteBuffer.allocate(8 + 2 * Payloads.REGION).put(MemoryRegionDescriptor.encodeTable(List.of(ok)));
            assertEquals(1, h.ack(MessageType.SET_MEM_TABLE, padded.flip().limit(8 + 2 * Payloads.REGION), small),
                    "size beyond the declared count");
            List<MemoryRegionDescriptor> bad = List.of(
                    new MemoryRegionDescriptor(0, 0, RAM_UVA, 0),                     // empty
                    new MemoryRegionDescriptor(-4096, 64 << 10, RAM_UVA, 0),          // guest range wraps
                    new MemoryRegionDescriptor(0, 64 << 10, -4096, 0),                // user range wraps
                    new MemoryRegionDescriptor(0, 64 << 10, RAM_UVA, 4096),           // past the file's end
                    new MemoryRegionDescriptor(0, 64 << 10, RAM_UVA, Long.MAX_VALUE), // offset + size overflows
                    new MemoryRegionDescriptor(0, 128 << 10, RAM_UVA, 0));            // larger than the file
            for (MemoryRegionDescriptor d : bad) {
                assertEquals(1, h.ack(MessageType.SET_MEM_TABLE, MemoryRegionDescriptor.encodeTable(List.of(d)), small), d.toString());
                assertEquals(1, h.ack(MessageType.ADD_MEM_REG, d.encodeSingle(), small), d.toString());
            }
            var overlapping = new MemoryRegionDescriptor(32 << 10, 64 << 10, RAM_UVA + (1L << 30), 0);
            assertEquals(1, h.ack(MessageType.SET_MEM_TABLE, MemoryRegionDescriptor.encodeTable(List.of(ok, overlapping)),
                    small, small));
            assertEquals(0, h.ack(MessageType.ADD_MEM_REG, ok.encodeSingle(), small));
            assertEquals(1, h.ack(MessageType.ADD_MEM_REG, overlapping.encodeSingle(), small));
            assertEquals(1, h.ack(MessageType.REM_MEM_REG, overlapping.encodeSingle()), "unknown region");
            assertEquals(0, h.ack(MessageType.REM_MEM_REG, ok.encodeSingle()));
        } finally {
            Fds.close(small);
        }
        stillServes();
    }

    @Test
    void ringAddressesMustBeAlignedAndFlagsKnown() throws Exception {
        assertEquals(1, h.ack(MessageType.SET_VRING_ADDR, new VringAddress(0, 0, RAM_UVA + 8, RAM_UVA + 0x2000, RAM_UVA + 0x1000, 0).encode()));
        assertEquals(1, h.ack(MessageType.SET_VRING_ADDR, new VringAddress(0, 0, RAM_UVA, RAM_UVA + 0x2002, RAM_UVA + 0x1000, 0).encode()));
        assertEquals(1, h.ack(MessageType.SET_VRING_ADDR, new VringAddress(0, 0, RAM_UVA, RAM_UVA + 0x2000, RAM_UVA + 0x1001, 0).encode()));
        assertEquals(1, h.ack(MessageType.SET_VRING_ADDR, new VringAddress(0, 2, RAM_UVA, RAM_UVA + 0x2000, RAM_UVA + 0x1000, 0).encode()));
        assertEquals(0, h.ack(MessageType.SET_VRING_ADDR, new VringAddress(0, 1, RAM_UVA, RAM_UVA + 0x2000, RAM_UVA + 0x1000, 0).encode()));
        stillServes();
    }

    @Test
    void inflightAreaTheFileCannotBackIsRefused() throws Exception {
        int fd = MemFd.create("inflight", 4096);
        try {
            long needed = InflightArea.bytes(2, QUEUE_SIZE);
            assertEquals(1, h.ack(MessageType.SET_INFLIGHT_FD, new InflightDescriptor(64 << 10, 0, 2, QUEUE_SIZE).encode(), fd),
                    "larger than the file");
            assertEquals(1, h.ack(MessageType.SET_INFLIGHT_FD, new InflightDescriptor(needed, 4096, 2, QUEUE_SIZE).encode(), fd),
                    "offset at the file's end");
            assertEquals(1, h.ack(MessageType.SET_INFLIGHT_FD, new InflightDescriptor(needed, Long.MAX_VALUE & ~4095L, 2, QUEUE_SIZE).encode(), fd),
                    "offset + size overflows");
            assertEquals(1, h.ack(MessageType.SET_INFLIGHT_FD, new InflightDescriptor(needed - 1, 0, 2, QUEUE_SIZE).encode(), fd),
                    "too small for the queues");
            assertEquals(1, h.ack(MessageType.SET_INFLIGHT_FD, new InflightDescriptor(needed, 0, 3, QUEUE_SIZE).encode(), fd),
                    "more queues than the device has");
            assertEquals(1, h.ack(MessageType.SET_INFLIGHT_FD, new InflightDescriptor(needed, 0, 2, 24).encode(), fd),
                    "queue size not a power of two");
            assertEquals(0, h.ack(MessageType.SET_INFLIGHT_FD, new InflightDescriptor(needed, 0, 2, QUEUE_SIZE).encode(), fd));
        } finally {
            Fds.close(fd);
        }
        stillServes();
    }

    @Test
    void inflightMemfdWeCreateCannotBeShrunk() throws Exception {
        Message r = h.exchange(MessageType.GET_INFLIGHT_FD, new InflightDescriptor(0, 0, 2, QUEUE_SIZE).encode());
        assertEquals(1, r.fds().length);
        try {
            assertEquals(MemFd.F_SEAL_SHRINK, MemFd.seals(r.fds()[0]) & MemFd.F_SEAL_SHRINK);
            assertEquals(InflightArea.bytes(2, QUEUE_SIZE), r.payload().getLong(0));
        } finally {
            Fds.closeAllQuietly(r.fds());
        }
    }

    /** The front-end truncates its inflight file after we mapped it: only the ring's start fails. */
    @Test
    void inflightAreaShrunkAfterMappingFailsOnlyTheRingStart() throws Exception {
        layOutQueue0();
        long size = InflightArea.bytes(2, QUEUE_SIZE);
        int fd = MemFd.create("inflight", size);
        try {
            Message r = h.exchange(MessageType.GET_INFLIGHT_FD, new InflightDescriptor(0, 0, 2, QUEUE_SIZE).encode());
            Fds.closeAllQuietly(r.fds());
            assertEquals(0, h.ack(MessageType.SET_INFLIGHT_FD, new InflightDescriptor(size, 0, 2, QUEUE_SIZE).encode(), fd));
            MemFd.resize(fd, 0);
            assertEquals(0, kick(0));
            assertEquals(1, h.ack(MessageType.SET_VRING_ENABLE, new VringState(0, 1).encode()), "the ring cannot start");
            assertEquals(List.of(), device.events());
            stillServes();
        } finally {
            Fds.close(fd);
        }
    }

    @Test
    void ringStartsWhenReady() throws Exception {
        layOutQueue0();
        assertEquals(0, kick(0));
        assertEquals(0, h.ack(MessageType.SET_VRING_ENABLE, new VringState(0, 1).encode()));
        assertEquals(List.of("start 0"), device.events());
        stillServes();
    }

    /**
     * A queue thread signals the err eventfd when it fails: replacing that descriptor stops the
     * running ring first (as for the call eventfd), so the old number is never written after it
     * was closed and possibly reused; the ring then restarts.
     */
    @Test
    void replacingSignalDescriptorsOfARunningRingStopsItFirst() throws Exception {
        layOutQueue0();
        assertEquals(0, kick(0));
        assertEquals(0, h.ack(MessageType.SET_VRING_ENABLE, new VringState(0, 1).encode()));
        try (EventFd err = EventFd.create(); EventFd call = EventFd.create()) {
            assertEquals(0, h.ack(MessageType.SET_VRING_ERR, Payloads.u64(0), err.fd()));
            assertEquals(List.of("start 0", "stop 0", "start 0"), device.events());
            assertEquals(0, h.ack(MessageType.SET_VRING_CALL, Payloads.u64(0), call.fd()));
            assertEquals(List.of("start 0", "stop 0", "start 0", "stop 0", "start 0"), device.events());
        }
        stillServes();
    }

    /** A bug (here: the device throwing) drops this connection, with its state, and nothing else. */
    @Test
    void anUnexpectedExceptionEndsOnlyTheConnection() throws Exception {
        layOutQueue0();
        assertEquals(0, kick(0));
        device.failStart = new IllegalStateException("device bug");
        h.send(MessageType.SET_VRING_ENABLE, HandlerHarness.NEED_REPLY, new VringState(0, 1).encode());
        assertEquals(BackendRequestHandler.Ending.FAILED, h.finish(10));
        assertNull(h.receive(), "no reply: the connection is gone");
        assertFalse(device.events().contains("start 0"));
    }

    @Test
    void endOfStreamInsideAMessageBreaksTheStream() throws Exception {
        h.send(MessageType.SET_FEATURES.code(), HandlerHarness.FLAGS, 8, new byte[3]);
        assertEquals(BackendRequestHandler.Ending.BROKEN_STREAM, h.finish(10));
    }

    /**
     * Found by the fuzz target (crash-74e3546d...): a broken stream dropped with more bytes
     * unread resets the connection; the replies sent before still arrive, then the end.
     */
    @Test
    void brokenStreamWithUnreadBytesEndsAfterTheRepliesBeforeIt() throws Exception {
        h.send(MessageType.GET_QUEUE_NUM, HandlerHarness.FLAGS, null);
        // Version 2 breaks the stream; the message behind it, in the same write, stays unread.
        ByteBuffer unread = ByteBuffer.allocate(MessageHeader.SIZE + 8);
        new MessageHeader(MessageType.SET_FEATURES.code(), HandlerHarness.NEED_REPLY, 8).encode(unread);
        h.send(MessageType.GET_FEATURES.code(), 0x2, 0, unread.array());
        assertEquals(BackendRequestHandler.Ending.BROKEN_STREAM, h.finish(10));
        assertEquals(MockDevice.QUEUES, h.receive().payload().getLong(0));
        assertNull(h.receive());
    }

    @Test
    void peerClosingBetweenMessagesIsAnOrdinaryEnd() throws Exception {
        assertTrue(h.ack(MessageType.SET_OWNER, null) == 0);
        assertEquals(BackendRequestHandler.Ending.PEER_CLOSED, h.finish(10));
    }
}
