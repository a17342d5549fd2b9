package dev.vublk.uring;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test that leaves more (or fewer) descriptors open than it found. Runs after the
 * test's own {@code @AfterEach}, so resources closed there count as closed.
 */
final class NoFdLeaks implements BeforeEachCallback, AfterEachCallback {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(NoFdLeaks.class);

    @Override
    public void beforeEach(ExtensionContext context) {
        context.getStore(NS).put("count", Fds.openCount());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        int before = context.getStore(NS).get("count", Integer.class);
        assertEquals(before, Fds.openCount(), "open descriptors before and after " + context.getDisplayName());
    }
}
