package dev.vublk.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.uring.Fds;
import dev.vublk.vhost.blk.BlkDevice;
import dev.vublk.vhost.blk.BlkDeviceOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.slf4j.LoggerFactory;

/**
 * Fuzzes the control path: a sequence of up to {@value MessageScript#MAX_MESSAGES} raw messages
 * (any type, flags, declared size, payload, and real descriptors: memfds of fuzzed sizes,
 * eventfds, pipes, /dev/null, sockets; see {@link MessageScript}) goes over a socketpair into a
 * {@link BackendRequestHandler} serving a virtio-blk device over a 1 MiB RAW image.
 *
 * <p>Contract: the handler ends only because the stream ended or broke, never by an unexpected
 * exception, and within {@value #SECONDS} seconds; every reply is well-formed (flags exactly
 * REPLY | version 1, in request order, a descriptor only with GET_INFLIGHT_FD); no descriptor
 * stays open afterwards.
 */
class VhostUserMessageFuzzTest {
    static final int SECONDS = 10;
    private static final ch.qos.logback.classic.Logger LOGS = (ch.qos.logback.classic.Logger) LoggerFactory.getLogger("dev.vublk");

    private static Path dir;
    private static BlockImage image;
    private static Level level;

    @BeforeAll
    static void openImage() throws IOException {
        dir = Files.createTempDirectory("vublk-fuzz");
        Path raw = dir.resolve("disk.raw");
        Files.write(raw, new byte[1 << 20]);
        image = Images.open(raw, ImageFormat.RAW, ImageOptions.defaults());
        level = LOGS.getLevel();
        LOGS.setLevel(Level.OFF); // each refusal is logged: millions of lines otherwise
    }

    @AfterAll
    static void closeImage() throws IOException {
        LOGS.setLevel(level);
        image.close();
        Files.deleteIfExists(dir.resolve("disk.raw"));
        Files.deleteIfExists(dir);
    }

    static BlkDevice device() {
        return new BlkDevice(image, new BlkDeviceOptions(2, 256, "fuzz", 512, true));
    }

    @FuzzTest
    void messageSequence(byte[] input) throws Exception {
        int before = Fds.openCount();
        play(MessageScript.decode(input), device());
        assertEquals(before, Fds.openCount(), "descriptors left open");
    }

    /**
     * Plays a script against a handler and returns the replies after checking the contract;
     * the replies' descriptors are closed.
     */
    static List<Message> play(MessageScript script, VirtioDevice device) throws Exception {
        List<Message> replies = new ArrayList<>();
        List<Integer> sent;
        try (HandlerHarness h = new HandlerHarness(device)) {
            sent = script.framedRequests(script.send(h));
            assertNotEquals(BackendRequestHandler.Ending.FAILED, h.finish(SECONDS), "an unexpected exception");
            Message r;
            while ((r = h.receive()) != null) {
                Fds.closeAllQuietly(r.fds());
                replies.add(r);
            }
        }
        // Requests are counted as the back-end frames them: a step's payload may carry more.
        assertTrue(replies.size() <= sent.size(), replies.size() + " replies to " + sent.size() + " requests");
        int next = 0;
        for (Message r : replies) {
            assertEquals(MessageHeader.REPLY | MessageHeader.VERSION, r.header().flags(), "reply flags");
            while (next < sent.size() && sent.get(next) != r.header().request()) {
                next++;
            }
            assertTrue(next < sent.size(), "a reply to request " + r.header().request() + " out of order or never sent "
                    + sent);
            next++;
            assertTrue(r.fds().length == 0 || (r.type() == MessageType.GET_INFLIGHT_FD && r.fds().length == 1),
                    r.fds().length + " descriptors in a reply to " + r.type());
        }
        return replies;
    }
}
