package dev.vublk.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
