package dev.vublk.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

class MessageScriptTest {
    /**
     * Found by the fuzz target (crash-5e5a9638...): a step declaring fewer bytes than it carries
     * makes the back-end read a header out of its payload, and that header gets a reply. The
     * contract's reply order follows the framing the back-end sees, not the steps.
     */
    @Test
    void framingFollowsDeclaredSizesNotSteps() {
        ByteBuffer inner = ByteBuffer.allocate(MessageHeader.SIZE);
        new MessageHeader(MessageType.GET_QUEUE_NUM.code(), MessageHeader.VERSION, 0).encode(inner);
        MessageScript script = new MessageScript(List.of(
                new MessageScript.Step(MessageType.SET_OWNER.code(), MessageHeader.VERSION, 0, inner.array(), List.of()),
                new MessageScript.Step(MessageType.GET_FEATURES.code(), MessageHeader.VERSION, 0, new byte[0], List.of()),
                new MessageScript.Step(MessageType.GET_FEATURES.code(), 0x2, 0, new byte[0], List.of()),
                new MessageScript.Step(MessageType.GET_QUEUE_NUM.code(), MessageHeader.VERSION, 0, new byte[0], List.of())));
        assertEquals(List.of(MessageType.SET_OWNER.code(), MessageType.GET_QUEUE_NUM.code(), MessageType.GET_FEATURES.code()),
                script.framedRequests(4), "a bad version ends the framing");
        assertEquals(List.of(MessageType.SET_OWNER.code(), MessageType.GET_QUEUE_NUM.code()), script.framedRequests(1));
    }

    /**
     * Found by the fuzz target (crash-c76021e1...): 32 steps whose payloads frame 34 requests,
     * answered 33 times. The target had bounded replies by the step count; the bound is the
     * number of requests the back-end frames, and every reply must answer one of them in order.
     */
    @Test
    void payloadsMayFrameMoreRequestsThanSteps() throws Exception {
        byte[] input;
        try (var in = MessageScriptTest.class.getResourceAsStream(
                "VhostUserMessageFuzzTestInputs/messageSequence/crash-c76021e197e098077fbe2339d53463232d809915")) {
            input = in.readAllBytes();
        }
        MessageScript script = MessageScript.decode(input);
        assertEquals(MessageScript.MAX_MESSAGES, script.steps().size());
        assertEquals(34, script.framedRequests(script.steps().size()).size());
        VhostUserMessageFuzzTest.openImage();
        try {
            List<Message> replies = VhostUserMessageFuzzTest.play(script, VhostUserMessageFuzzTest.device());
            assertTrue(replies.size() > script.steps().size(), replies.size() + " replies");
        } finally {
            VhostUserMessageFuzzTest.closeImage();
        }
    }

    @Test
    void encodingRoundTrips() {
        MessageScript s = VhostUserMessageSeedsTest.qemu();
        MessageScript back = MessageScript.decode(s.encode());
        assertEquals(s.steps().size(), back.steps().size());
        for (int i = 0; i < s.steps().size(); i++) {
            var a = s.steps().get(i);
            var b = back.steps().get(i);
            assertEquals(List.of(a.request(), a.flags(), a.declaredSize(), a.fds()), List.of(b.request(), b.flags(), b.declaredSize(), b.fds()));
            assertEquals(ByteBuffer.wrap(a.payload()), ByteBuffer.wrap(b.payload()));
        }
    }
}
