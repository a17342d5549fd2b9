package dev.vublk.vhost.blk;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Quiesce helpers for queue tests. */
final class Quiesces {
    private Quiesces() {}

    /**
     * Makes an image change (a flag set) with {@code device}'s queues quiesced, from another
     * thread as the control path does, and fails past {@code guardSeconds} (a hang guard only).
     *
     * @return whether the change ran: every queue parked in time
     */
    static boolean changeWhileQuiesced(BlkDevice device, long guardSeconds) throws Exception {
        boolean[] changed = {false};
        CompletableFuture.runAsync(() -> {
            try {
                device.whileQuiesced(() -> changed[0] = true);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }).get(guardSeconds, TimeUnit.SECONDS);
        return changed[0];
    }
}
