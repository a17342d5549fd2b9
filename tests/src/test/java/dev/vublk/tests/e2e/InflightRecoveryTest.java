package dev.vublk.tests.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.tests.backend.BackendKind;
import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.backend.ProcessBackend;
import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.BlkCompletion;
import dev.vublk.tests.frontend.BlkQueueDriver;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.GuestBuffer;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A backend process dies with requests taken but not completed; the next backend process finds
 * them in the inflight area the frontend kept, redoes them in order, and does nothing twice.
 */
class InflightRecoveryTest {
    private static final int ENTRY_HEADER = 16, ENTRY = 16;

    @TempDir
    Path dir;

    /** What the dead backend would have left: the head taken, with its order counter. */
    private static void markTaken(MemorySegment area, int head, long counter) {
        long entry = ENTRY_HEADER + (long) ENTRY * head;
        area.set(ValueLayout.JAVA_LONG, entry + 8, counter);
        area.set(ValueLayout.JAVA_BYTE, entry, (byte) 1);
    }

    @Test
    void requestsLeftInFlightByAKilledBackendAreRedoneExactlyOnce() throws Exception {
        try (BackendFixture f = new BackendFixture(BackendKind.OURS_PROCESS, dir)) {
            ProcessBackend first = (ProcessBackend) f.start(BackendSpec.raw(f.image, 1));
            VhostUserBlkFrontend fe = f.open(FrontendOptions.qemu(1).withInflight(true));
            BlkQueueDriver q = fe.queue(0);
            assertEquals(BlkCommand.S_OK, q.write(0, Patterns.bytes(1, 4096)).status());
            MemorySegment area = fe.inflightArea();
            assertNotNull(area, "INFLIGHT_SHMFD was negotiated");

            first.process().destroyForcibly();
            assertTrue(first.process().waitFor(20, TimeUnit.SECONDS));

            // The killed backend had popped these writes and never completed them.
            int usedBefore = q.virtqueue().ring().deviceUsedIdx();
            Set<Integer> heads = new HashSet<>();
            for (int i = 0; i < 3; i++) {
                GuestBuffer b = fe.ram().allocate(0, 4096, 512);
                fe.ram().write(b, Patterns.bytes(10 + i, 4096));
                int head = q.offer(BlkCommand.write(8L * (i + 1), b));
                markTaken(area, head, 100 + i);
                heads.add(head);
            }
            q.virtqueue().ring().publish(); // no kick: nobody is listening

            f.start(BackendSpec.raw(f.image, 1));
            fe.bases(new int[] {usedBefore}); // QEMU resumes at the used index after a crash
            fe.reconnect();

            Set<Integer> completed = new HashSet<>();
            for (int i = 0; i < 3; i++) {
                BlkCompletion c = q.await();
                assertEquals(BlkCommand.S_OK, c.status());
                completed.add(c.command().sector() == 8 ? 0 : c.command().sector() == 16 ? 1 : 2);
            }
            assertEquals(Set.of(0, 1, 2), completed);
            assertNull(q.virtqueue().pollFor(Duration.ofMillis(300)), "a recovered request was done twice");
            assertEquals(usedBefore + 3, q.virtqueue().ring().deviceUsedIdx());

            for (int i = 0; i < 3; i++) {
                assertArrayEquals(Patterns.bytes(10 + i, 4096), q.read(8L * (i + 1), 4096).data());
            }
            assertArrayEquals(Patterns.bytes(1, 4096), q.read(0, 4096).data());
        }
    }
}
