package dev.vublk.tests.e2e;

import static dev.vublk.vhost.ProtocolFeatures.bit;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.tests.backend.BackendKind;
import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.backend.ProcessBackend;
import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.BlkCompletion;
import dev.vublk.tests.frontend.BlkQueueDriver;
import dev.vublk.tests.frontend.BlkResult;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.Reply;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import dev.vublk.tests.frontend.VhostUserClient;
import dev.vublk.tests.frontend.VhostUserRefused;
import dev.vublk.uring.MemFd;
import dev.vublk.uring.Fds;
import dev.vublk.vhost.InflightDescriptor;
import dev.vublk.vhost.MessageType;
import dev.vublk.vhost.Payloads;
import dev.vublk.vhost.ProtocolFeatures;
import dev.vublk.vhost.blk.BlkFeatures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Behaviour specific to our backend: its exact offer, options (serial, read-only, 4 KiB blocks) and refusals. */
class OurBackendTest {
    @TempDir
    Path dir;
    BackendFixture f;

    @BeforeEach
    void setUp() throws Exception {
        f = new BackendFixture(BackendKind.OURS_IN_PROCESS, dir);
    }

    @AfterEach
    void tearDown() throws Exception {
        f.close();
    }

    @Test
    void exactProtocolFeatureOffer() throws Exception {
        f.start(1);
        VhostUserClient c = f.connect(FrontendOptions.qemu(1)).client();
        assertEquals(bit(ProtocolFeatures.MQ) | bit(ProtocolFeatures.REPLY_ACK) | bit(ProtocolFeatures.CONFIG)
                | bit(ProtocolFeatures.CONFIGURE_MEM_SLOTS) | bit(ProtocolFeatures.RESET_DEVICE)
                | bit(ProtocolFeatures.BACKEND_REQ) | bit(ProtocolFeatures.INFLIGHT_SHMFD)
                | bit(ProtocolFeatures.LOG_SHMFD), c.getProtocolFeatures());
        c.setProtocolFeatures(bit(ProtocolFeatures.REPLY_ACK));
        // Features never offered are refused, and so are protocol features never offered.
        assertEquals(1, c.exchange(MessageType.SET_FEATURES, Payloads.u64(bit(40)), true).u64());
        assertEquals(1, c.exchange(MessageType.SET_PROTOCOL_FEATURES,
                Payloads.u64(bit(ProtocolFeatures.REPLY_ACK) | bit(ProtocolFeatures.PAGEFAULT)), true).u64());
        assertEquals(0, c.exchange(MessageType.SET_FEATURES, Payloads.u64(bit(ProtocolFeatures.F_PROTOCOL_FEATURES)
                | bit(BlkFeatures.VERSION_1)), true).u64());
    }

    @Test
    void logBaseAndInflightAreRefused() throws Exception {
        f.start(1);
        VhostUserBlkFrontend fe = f.open(FrontendOptions.qemu(1));
        VhostUserClient c = fe.client();
        int memfd = MemFd.create("log", 4096);
        try {
            // LOG_SHMFD is not negotiated here: SET_LOG_BASE gets a failure ack and the device keeps working.
            VhostUserRefused e = assertThrows(VhostUserRefused.class, () -> {
                Reply r = c.exchange(MessageType.SET_LOG_BASE, java.nio.ByteBuffer.allocate(Payloads.LOG), true, memfd);
                if (r.u64() != 0) {
                    throw new VhostUserRefused("SET_LOG_BASE", r.u64());
                }
            });
            assertEquals(1, e.ack());
        } finally {
            Fds.closeQuietly(memfd);
        }
        // GET_INFLIGHT_FD always replies: without INFLIGHT_SHMFD negotiated it is refused with an empty payload.
        Reply r = c.exchange(MessageType.GET_INFLIGHT_FD, new InflightDescriptor(0, 0, 1, 128).encode(), false);
        assertEquals(0, r.payload().length);
        assertEquals(BlkCommand.S_OK, fe.queue(0).write(0, new byte[512]).status());
    }

    @Test
    void serialAndReadOnlyDevice() throws Exception {
        Files.write(f.image, Patterns.bytes(1, 4096), java.nio.file.StandardOpenOption.WRITE);
        f.start(BackendSpec.raw(f.image, 1).withReadOnly(true).withSerial("SN-0123456789abcdef"));
        VhostUserBlkFrontend fe = f.open(FrontendOptions.cloudHypervisor(1));
        assertTrue(ProtocolFeatures.has(fe.offeredFeatures(), BlkFeatures.RO));
        assertFalse(ProtocolFeatures.has(fe.offeredFeatures(), BlkFeatures.DISCARD));
        assertFalse(ProtocolFeatures.has(fe.offeredFeatures(), BlkFeatures.WRITE_ZEROES));
        BlkQueueDriver q = fe.queue(0);
        BlkResult id = q.getId();
        assertEquals(BlkCommand.S_OK, id.status());
        assertEquals(21, id.usedLength());
        assertArrayEquals(Arrays.copyOf("SN-0123456789abcdef".getBytes(), 20), id.data());
        assertArrayEquals(Patterns.bytes(1, 4096), q.read(0, 4096).data());
        var w = q.write(0, new byte[4096]);
        assertEquals(BlkCommand.S_IOERR, w.status());
        assertEquals(1, w.usedLength());
        assertEquals(BlkCommand.S_IOERR, q.writeZeroes(0, 8, false).status());
        assertEquals(BlkCommand.S_IOERR, q.discard(0, 8).status());
        assertEquals(BlkCommand.S_OK, q.flush().status());
        assertArrayEquals(Patterns.bytes(1, 4096), q.read(0, 4096).data(), "nothing was written");
    }

    /**
     * A guest cannot turn a RAW image whose format was detected into a qcow2 image (which could
     * name a host file as its backing file on the next start): the write fails, the data stays.
     */
    @Test
    void probedRawRefusesAQcow2HeaderAtSectorZero() throws Exception {
        Files.write(f.image, Patterns.bytes(2, 4096), java.nio.file.StandardOpenOption.WRITE);
        f.start(BackendSpec.raw(f.image, 1).withFormat("auto"));
        BlkQueueDriver q = f.open(FrontendOptions.qemu(1)).queue(0);
        byte[] header = Arrays.copyOf(new byte[] {'Q', 'F', 'I', (byte) 0xfb, 0, 0, 0, 3}, 4096);
        var w = q.write(0, header);
        assertEquals(BlkCommand.S_IOERR, w.status());
        assertArrayEquals(Patterns.bytes(2, 4096), q.read(0, 4096).data(), "nothing was written");
        assertEquals(BlkCommand.S_OK, q.write(512, header).status(), "the same bytes elsewhere are data");
    }

    /** Drivers size requests by seg_max, not by the ring: a 128-entry ring still carries 300 segments. */
    @Test
    void requestWithMoreSegmentsThanTheRingHasEntries() throws Exception {
        f.start(1);
        VhostUserBlkFrontend fe = f.open(FrontendOptions.qemu(1).withQueueSize(128));
        assertTrue(fe.configView().segMax() >= 300, "seg_max " + fe.configView().segMax());
        BlkQueueDriver q = fe.queue(0);
        int segments = 300;
        byte[] data = Patterns.bytes(77, segments * 512);
        dev.vublk.tests.frontend.GuestBuffer[] out = new dev.vublk.tests.frontend.GuestBuffer[segments];
        dev.vublk.tests.frontend.GuestBuffer[] in = new dev.vublk.tests.frontend.GuestBuffer[segments];
        for (int i = 0; i < segments; i++) {
            out[i] = fe.ram().allocate(0, 512, 512);
            fe.ram().write(out[i], Arrays.copyOfRange(data, i * 512, (i + 1) * 512));
            in[i] = fe.ram().allocate(0, 512, 512);
        }
        assertEquals(BlkCommand.S_OK, q.run(BlkCommand.write(64, out).indirect(true)).status());
        BlkCompletion done = q.run(BlkCommand.read(64, in).indirect(true));
        assertEquals(BlkCommand.S_OK, done.status());
        assertEquals(segments * 512 + 1, done.usedLength());
        byte[] back = new byte[segments * 512];
        for (int i = 0; i < segments; i++) {
            System.arraycopy(fe.ram().read(in[i]), 0, back, i * 512, 512);
        }
        assertArrayEquals(data, back);
    }

    @Test
    void fourKiBLogicalBlocksRejectMisalignedRequests() throws Exception {
        f.start(BackendSpec.raw(f.image, 1).withLogicalBlockSize(4096));
        VhostUserBlkFrontend fe = f.open(FrontendOptions.qemu(1));
        assertEquals(4096, fe.configView().blkSize());
        assertEquals(8, fe.configView().discardSectorAlignment());
        BlkQueueDriver q = fe.queue(0);
        assertEquals(BlkCommand.S_OK, q.write(8, Patterns.bytes(2, 4096)).status());
        assertEquals(BlkCommand.S_IOERR, q.read(1, 4096).status(), "sector not on a 4 KiB boundary");
        assertEquals(BlkCommand.S_IOERR, q.read(8, 512).status(), "length not a multiple of 4 KiB");
        assertEquals(BlkCommand.S_IOERR, q.write(4, new byte[4096]).status());
        assertEquals(BlkCommand.S_IOERR, q.writeZeroes(9, 8, false).status());
        assertArrayEquals(Patterns.bytes(2, 4096), q.read(8, 4096).data());
    }

    @Test
    void writeThroughModeFlushesAndReportsWce0() throws Exception {
        f.start(BackendSpec.raw(f.image, 1).withWriteCache(false));
        VhostUserBlkFrontend fe = f.open(FrontendOptions.qemu(1));
        assertEquals(0, fe.configView().writeback());
        assertEquals(BlkCommand.S_OK, fe.queue(0).write(0, Patterns.bytes(6, 4096)).status());
        assertArrayEquals(Patterns.bytes(6, 4096), fe.queue(0).read(0, 4096).data());
    }

    @Test
    void launcherProcessServesReconnectsAndExitsOnSigterm() throws Exception {
        f.close();
        f = new BackendFixture(BackendKind.OURS_PROCESS, dir);
        ProcessBackend p = (ProcessBackend) f.start(BackendSpec.raw(f.image, 2).withSerial("proc"));
        VhostUserBlkFrontend first = f.open(FrontendOptions.qemu(2));
        assertEquals(BlkCommand.S_OK, first.queue(1).write(16, Patterns.bytes(16, 4096)).status());
        assertArrayEquals(Arrays.copyOf("proc".getBytes(), 20), first.queue(0).getId().data());
        first.close();
        VhostUserBlkFrontend second = f.open(FrontendOptions.cloudHypervisor(2));
        assertArrayEquals(Patterns.bytes(16, 4096), second.queue(0).read(16, 4096).data());
        second.close();
        p.process().destroy(); // SIGTERM
        assertTrue(p.process().waitFor(20, TimeUnit.SECONDS));
        assertEquals(0, p.process().exitValue(), p.log());
        // Each connection logs one line with what was negotiated.
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("front-end started the device: features \\[([A-Z_0-9 ]+)],"
                + " protocol features \\[([A-Z_ ]+)], 1 memory region\\(s\\), queue [01] of 2 started first \\(size \\d+\\)")
                .matcher(p.log());
        int lines = 0;
        while (m.find()) {
            lines++;
            assertTrue((" " + m.group(1) + " ").contains(" VERSION_1 ") && m.group(1).contains("MQ"), m.group());
            assertTrue((" " + m.group(2) + " ").contains(" REPLY_ACK "), m.group());
        }
        assertEquals(2, lines, p.log());
    }
}
