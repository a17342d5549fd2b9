package dev.vublk.uring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.HashMap;
import java.util.Map;

/** Records what an {@link IoUring} delivered, and fails on a tag delivered twice. */
final class Completions implements IoCompletion {
    private final Map<Long, Integer> results = new HashMap<>();

    @Override
    public void complete(long tag, int result) {
        assertNull(results.put(tag, result), "tag " + tag + " delivered twice");
    }

    int count() {
        return results.size();
    }

    boolean has(long tag) {
        return results.containsKey(tag);
    }

    int result(long tag) {
        Integer r = results.get(tag);
        if (r == null) {
            throw new AssertionError("tag " + tag + " not delivered");
        }
        return r;
    }

    void assertResult(long tag, int expected) {
        assertEquals(expected, result(tag), "result of tag " + tag);
    }
}
