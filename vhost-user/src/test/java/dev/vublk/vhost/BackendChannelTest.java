package dev.vublk.vhost;

import static dev.vublk.vhost.ProtocolFeatures.bit;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.uring.UnixSocket;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link BackendChannel} against a front-end played by the test on the other end of a socketpair. */
class BackendChannelTest {
    private static final long CONFIG_AND_ACK = bit(ProtocolFeatures.CONFIG) | bit(ProtocolFeatures.REPLY_ACK);
    private static final Duration SHORT = Duration.ofMillis(300);

    @Test
    void configChangeAsksForAnAckWithReplyAckAndTakesAZeroStatusAsSuccess() throws Exception {
        try (Ends ends = Ends.open(CONFIG_AND_ACK, BackendChannel.DEFAULT_TIMEOUT)) {
            BackendChannel channel = ends.channel();
            UnixSocket frontEnd = ends.frontEnd();
            CompletableFuture<BackendChannel.Outcome> sent = CompletableFuture.supplyAsync(channel::configChanged);
            MessageHeader h = receiveHeader(frontEnd);
            assertEquals(new MessageHeader(2, MessageHeader.VERSION | MessageHeader.NEED_REPLY, 0), h);
            reply(frontEnd, h.request(), 0);
            assertEquals(BackendChannel.Outcome.ACKED, sent.get(10, TimeUnit.SECONDS));
            // The channel stays usable: a second change is sent and acknowledged the same way.
            sent = CompletableFuture.supplyAsync(channel::configChanged);
            reply(frontEnd, receiveHeader(frontEnd).request(), 1);
            assertEquals(BackendChannel.Outcome.REFUSED, sent.get(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void withoutReplyAckTheMessageGoesWithoutNeedReplyAndNothingIsAwaited() throws Exception {
        try (Ends ends = Ends.open(bit(ProtocolFeatures.CONFIG), BackendChannel.DEFAULT_TIMEOUT)) {
            BackendChannel channel = ends.channel();
            UnixSocket frontEnd = ends.frontEnd();
            assertEquals(BackendChannel.Outcome.SENT, channel.configChanged());
            assertEquals(new MessageHeader(2, MessageHeader.VERSION, 0), receiveHeader(frontEnd));
        }
    }

    @Test
    void withoutConfigNothingIsSent() throws Exception {
        try (Ends ends = Ends.open(bit(ProtocolFeatures.REPLY_ACK), SHORT)) {
            BackendChannel channel = ends.channel();
            UnixSocket frontEnd = ends.frontEnd();
            assertEquals(BackendChannel.Outcome.NOT_NEGOTIATED, channel.configChanged());
            frontEnd.shutdownOutput();
            channel.close();
            assertEquals(0, frontEnd.receive(buffer(), 1, 0).bytes(), "no byte came before the end of stream");
        }
    }

    @Test
    void aFrontEndThatNeverAnswersCostsOneTimeoutAndTheChannelIsGivenUp() throws Exception {
        try (Ends ends = Ends.open(CONFIG_AND_ACK, SHORT)) {
            BackendChannel channel = ends.channel();
            UnixSocket frontEnd = ends.frontEnd();
            assertEquals(BackendChannel.Outcome.FAILED, channel.configChanged());
            receiveHeader(frontEnd);
            // A late ack must not be taken as the answer to the next request: the channel ends,
            // and nothing more is sent on it.
            assertEquals(BackendChannel.Outcome.FAILED, channel.configChanged());
            assertEquals(0, frontEnd.receive(buffer(), 1, 0).bytes(), "the front-end sees the channel end");
        }
    }

    @Test
    void aWrongAnswerFailsTheRequest() throws Exception {
        try (Ends ends = Ends.open(CONFIG_AND_ACK, BackendChannel.DEFAULT_TIMEOUT)) {
            BackendChannel channel = ends.channel();
            UnixSocket frontEnd = ends.frontEnd();
            CompletableFuture<BackendChannel.Outcome> sent = CompletableFuture.supplyAsync(channel::configChanged);
            receiveHeader(frontEnd);
            reply(frontEnd, 1, 0); // an ack for IOTLB_MSG, not for CONFIG_CHANGE_MSG
            assertEquals(BackendChannel.Outcome.FAILED, sent.get(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void closingWhileASenderWaitsForItsAckEndsTheWait() throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket frontEnd = pair[1]) {
            BackendChannel channel = new BackendChannel(pair[0], CONFIG_AND_ACK, Duration.ofMinutes(10));
            CompletableFuture<BackendChannel.Outcome> sent = CompletableFuture.supplyAsync(channel::configChanged);
            receiveHeader(frontEnd); // the sender now waits for the ack
            channel.close();
            assertEquals(BackendChannel.Outcome.FAILED, sent.get(30, TimeUnit.SECONDS));
            assertEquals(BackendChannel.Outcome.FAILED, channel.configChanged(), "nothing is sent on a closed channel");
        }
    }

    /** A channel over one end of a socketpair and the front-end's end, closed together. */
    private record Ends(BackendChannel channel, UnixSocket frontEnd) implements AutoCloseable {
        static Ends open(long features, Duration timeout) throws Exception {
            UnixSocket[] pair = UnixSocket.pair();
            return new Ends(new BackendChannel(pair[0], features, timeout), pair[1]);
        }

        @Override
        public void close() {
            channel.close();
            frontEnd.close();
        }
    }

    private static MemorySegment buffer() {
        return Arena.ofAuto().allocate(64, 8);
    }

    private static MessageHeader receiveHeader(UnixSocket s) throws Exception {
        MemorySegment b = buffer();
        s.receiveFully(b, MessageHeader.SIZE);
        return MessageHeader.decode(b.asSlice(0, MessageHeader.SIZE).asByteBuffer());
    }

    private static void reply(UnixSocket s, int request, long status) throws Exception {
        MemorySegment b = buffer();
        new MessageHeader(request, MessageHeader.REPLY | MessageHeader.VERSION, 8).encode(b.asSlice(0, 12).asByteBuffer());
        b.asSlice(12, 8).asByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(0, status);
        s.send(b, 20);
    }
}
