package dev.vublk.vhost;

import static dev.vublk.vhost.ProtocolFeatures.bit;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.vhost.MessageScript.Fd;
import dev.vublk.vhost.MessageScript.Kind;
import dev.vublk.vhost.blk.BlkFeatures;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The fuzz target's seeds: QEMU's and cloud-hypervisor's start-up orders (docs in
 * /work/shared/notes/frontends.md), encoded with {@link MessageScript}. Each must bring both
 * queues up with every request acknowledged, so the fuzzer starts from deep protocol states; the
 * committed seed files must be what the encoder makes (run with {@code -Dvublk.writeSeeds} to
 * rewrite them).
 */
class VhostUserMessageSeedsTest {
    static final Path SEEDS = Path.of("src/test/resources/dev/vublk/vhost/VhostUserMessageFuzzTestInputs/messageSequence");
    static final int ASK = HandlerHarness.NEED_REPLY, TELL = HandlerHarness.FLAGS;
    static final long RAM = 1 << 20, UVA = 0x7f00_0000_0000L;
    static final int QUEUE_SIZE = 128;
    static final long PROTOCOL = MockDevice.PROTOCOL_FEATURES | bit(ProtocolFeatures.RESET_DEVICE);
    static final long FEATURES = bit(BlkFeatures.VERSION_1) | bit(BlkFeatures.FLUSH) | bit(ProtocolFeatures.F_PROTOCOL_FEATURES);

    static Fd eventFd() { return new Fd(Kind.EVENTFD, 0); }

    static Fd memFd(long size) { return new Fd(Kind.MEMFD, (int) size); }

    static MemoryRegionDescriptor ram() { return new MemoryRegionDescriptor(0, RAM, UVA, 0); }

    static VringAddress ring(int q) {
        long base = UVA + q * 0x10000L;
        return new VringAddress(q, 0, base, base + 0x2000, base + 0x1000, 0);
    }

    static MessageScript qemu() {
        var b = new MessageScript.Builder()
                .add(MessageType.GET_FEATURES, TELL, null)
                .add(MessageType.GET_PROTOCOL_FEATURES, TELL, null)
                .add(MessageType.SET_PROTOCOL_FEATURES, TELL, Payloads.u64(PROTOCOL))
                .add(MessageType.GET_QUEUE_NUM, TELL, null)
                .add(MessageType.GET_MAX_MEM_SLOTS, TELL, null)
                .add(MessageType.SET_BACKEND_REQ_FD, ASK, null, new Fd(Kind.SOCKET, 0))
                .add(MessageType.SET_OWNER, ASK, null)
                .add(MessageType.GET_CONFIG, TELL, new ConfigSpace(0, 60, 0, new byte[60]).encode());
        for (int q = 0; q < 2; q++) {
            b.add(MessageType.SET_VRING_CALL, ASK, Payloads.u64(q), eventFd())
                    .add(MessageType.SET_VRING_ERR, ASK, Payloads.u64(q), eventFd());
        }
        b.add(MessageType.SET_FEATURES, ASK, Payloads.u64(FEATURES))
                .add(MessageType.GET_INFLIGHT_FD, TELL, new InflightDescriptor(0, 0, 2, QUEUE_SIZE).encode())
                .add(MessageType.SET_INFLIGHT_FD, ASK, new InflightDescriptor(InflightArea.bytes(2, QUEUE_SIZE), 0, 2,
                        QUEUE_SIZE).encode(), memFd(InflightArea.bytes(2, QUEUE_SIZE)))
                .add(MessageType.ADD_MEM_REG, ASK, ram().encodeSingle(), memFd(RAM));
        for (int q = 0; q < 2; q++) {
            b.add(MessageType.SET_VRING_NUM, ASK, new VringState(q, QUEUE_SIZE).encode())
                    .add(MessageType.SET_VRING_BASE, ASK, new VringState(q, 0).encode())
                    .add(MessageType.SET_VRING_ADDR, ASK, ring(q).encode())
                    .add(MessageType.SET_VRING_KICK, ASK, Payloads.u64(q), eventFd());
        }
        for (int q = 0; q < 2; q++) {
            b.add(MessageType.SET_VRING_ENABLE, ASK, new VringState(q, 1).encode());
        }
        for (int q = 0; q < 2; q++) {
            b.add(MessageType.GET_VRING_BASE, TELL, new VringState(q, 0).encode());
        }
        return b.build();
    }

    static MessageScript cloudHypervisor() {
        var b = new MessageScript.Builder()
                .add(MessageType.SET_OWNER, TELL, null)
                .add(MessageType.GET_FEATURES, TELL, null)
                .add(MessageType.GET_PROTOCOL_FEATURES, TELL, null)
                .add(MessageType.SET_PROTOCOL_FEATURES, TELL, Payloads.u64(PROTOCOL))
                .add(MessageType.GET_QUEUE_NUM, ASK, null)
                .add(MessageType.GET_CONFIG, ASK, new ConfigSpace(0, 60, 0, new byte[60]).encode())
                .add(MessageType.SET_FEATURES, ASK, Payloads.u64(FEATURES))
                .add(MessageType.SET_MEM_TABLE, ASK, MemoryRegionDescriptor.encodeTable(List.of(ram())), memFd(RAM))
                .add(MessageType.SET_VRING_NUM, ASK, new VringState(0, QUEUE_SIZE).encode())
                .add(MessageType.SET_VRING_NUM, ASK, new VringState(1, QUEUE_SIZE).encode())
                .add(MessageType.GET_INFLIGHT_FD, ASK, new InflightDescriptor(0, 0, 2, QUEUE_SIZE).encode())
                .add(MessageType.SET_INFLIGHT_FD, ASK, new InflightDescriptor(InflightArea.bytes(2, QUEUE_SIZE), 0, 2,
                        QUEUE_SIZE).encode(), memFd(InflightArea.bytes(2, QUEUE_SIZE)));
        for (int q = 0; q < 2; q++) {
            b.add(MessageType.SET_VRING_ADDR, ASK, ring(q).encode())
                    .add(MessageType.SET_VRING_BASE, ASK, new VringState(q, 0).encode())
                    .add(MessageType.SET_VRING_CALL, ASK, Payloads.u64(q), eventFd())
                    .add(MessageType.SET_VRING_KICK, ASK, Payloads.u64(q), eventFd());
        }
        for (int q = 0; q < 2; q++) {
            b.add(MessageType.SET_VRING_ENABLE, ASK, new VringState(q, 1).encode());
        }
        b.add(MessageType.SET_CONFIG, ASK, new ConfigSpace(32, 1, 1, new byte[] {1}).encode());
        for (int q = 0; q < 2; q++) {
            b.add(MessageType.GET_VRING_BASE, ASK, new VringState(q, 0).encode());
        }
        return b.build();
    }

    static final Map<String, MessageScript> SCRIPTS = Map.of("qemu-startup", qemu(), "cloud-hypervisor-startup", cloudHypervisor());

    @BeforeAll
    static void openImage() throws Exception {
        VhostUserMessageFuzzTest.openImage();
    }

    @AfterAll
    static void closeImage() throws Exception {
        VhostUserMessageFuzzTest.closeImage();
    }

    /** Every request is answered as a working front-end expects: acks of 0, both rings stopped at 0. */
    @Test
    void seedsBringBothQueuesUp() throws Exception {
        for (var e : SCRIPTS.entrySet()) {
            List<Message> replies = VhostUserMessageFuzzTest.play(e.getValue(), VhostUserMessageFuzzTest.device());
            int vringBases = 0;
            for (Message r : replies) {
                switch (r.type()) {
                    case GET_VRING_BASE -> {
                        assertEquals(0, r.payload().getInt(4), e.getKey());
                        vringBases++;
                    }
                    case GET_FEATURES, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM, GET_MAX_MEM_SLOTS, GET_INFLIGHT_FD ->
                            assertEquals(r.type() == MessageType.GET_INFLIGHT_FD ? InflightDescriptor.WIRE_SIZE : 8, r.size());
                    case GET_CONFIG -> assertEquals(Payloads.CONFIG_HEADER + 60, r.size(), e.getKey());
                    default -> assertEquals(0, r.payload().getLong(0), e.getKey() + ": " + r.type() + " was refused");
                }
            }
            assertEquals(2, vringBases, e.getKey());
        }
    }

    @Test
    void committedSeedsAreTheEncodersOutput() throws Exception {
        for (var e : SCRIPTS.entrySet()) {
            Path file = SEEDS.resolve(e.getKey());
            byte[] encoded = e.getValue().encode();
            if (Boolean.getBoolean("vublk.writeSeeds")) {
                Files.createDirectories(SEEDS);
                Files.write(file, encoded);
            }
            assertArrayEquals(encoded, Files.readAllBytes(file), file + " is stale: rerun with -Dvublk.writeSeeds=true");
            assertEquals(e.getValue().steps().size(), MessageScript.decode(encoded).steps().size());
        }
    }
}
