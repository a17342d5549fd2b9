package dev.vublk.virtqueue;

import static dev.vublk.virtqueue.QueueFixture.DATA;
import static dev.vublk.virtqueue.testing.DriverBuffer.readable;
import static dev.vublk.virtqueue.testing.DriverBuffer.writable;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.vublk.virtqueue.testing.UsedElement;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A driver thread and a device thread on one queue, each sleeping whenever the suppression
 * protocol allows (semaphores stand in for the kick and call eventfds). A lost kick or lost
 * interrupt shows up as a sleeper that is never woken; a duplicate or missing completion as a
 * mismatch in the per-request bookkeeping.
 */
class SplitQueueConcurrencyTest {
    private static final int QUEUE_SIZE = 64;
    private static final int REQUESTS = 20_000;
    private static final int SLOTS = QUEUE_SIZE / 2;
    private static final long SLOT_BYTES = 32;
    private static final long WAKEUP_TIMEOUT_SECONDS = 20;

    private final Semaphore kick = new Semaphore(0);
    private final Semaphore interrupt = new Semaphore(0);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private volatile boolean stop;
    private volatile int devicePopped;

    @ParameterizedTest(name = "eventIdx={0}")
    @ValueSource(booleans = {true, false})
    void everyRequestIsCompletedExactlyOnce(boolean eventIdx) throws Exception {
        try (QueueFixture f = new QueueFixture(QUEUE_SIZE, eventIdx, 65000)) {
            Thread device = new Thread(() -> guard(() -> runDevice(f.device)), "device");
            device.start();
            assertTimeoutPreemptively(Duration.ofSeconds(90), () -> {
                try {
                    runDriver(f);
                } finally {
                    stop = true;
                    kick.release();
                    device.join();
                }
            });
            if (failure.get() != null) {
                throw new AssertionError("device thread failed", failure.get());
            }
            assertEquals(REQUESTS, devicePopped);
            assertEquals((65000 + REQUESTS) & 0xffff, f.device.lastAvailIdx());
            assertEquals((65000 + REQUESTS) & 0xffff, f.device.usedIdx());
        }
    }

    private void guard(ThrowingRunnable body) {
        try {
            body.run();
        } catch (Throwable t) {
            failure.compareAndSet(null, t);
            interrupt.release(); // do not leave the driver waiting for a dead device
        }
    }

    private interface ThrowingRunnable {
        void run() throws Exception;
    }

    private void runDriver(QueueFixture f) throws Exception {
        Deque<Integer> freeSlots = new ArrayDeque<>();
        for (int s = 0; s < SLOTS; s++) {
            freeSlots.add(s);
        }
        int[] idOfHead = new int[QUEUE_SIZE];
        int[] slotOfHead = new int[QUEUE_SIZE];
        boolean[] done = new boolean[REQUESTS];
        int nextId = 0;
        int completed = 0;
        while (completed < REQUESTS) {
            if (failure.get() != null) {
                throw new AssertionError("device thread failed", failure.get());
            }
            int submitted = 0;
            while (nextId < REQUESTS && !freeSlots.isEmpty()) {
                int slot = freeSlots.pop();
                long base = DATA + slot * SLOT_BYTES;
                f.mock.memory().regionAt(base).segment().set(ValueLayout.JAVA_LONG_UNALIGNED, base, nextId);
                f.mock.memory().regionAt(base).segment().set(ValueLayout.JAVA_LONG_UNALIGNED, base + 16, -1L);
                int head = f.driver.addChain(java.util.List.of(readable(base, 8), writable(base + 16, 8)));
                idOfHead[head] = nextId;
                slotOfHead[head] = slot;
                f.driver.offer(head);
                nextId++;
                // publish in uneven batches so kicks race with the device's processing
                if (++submitted % (1 + nextId % 5) == 0) {
                    publishAndKick(f);
                }
            }
            publishAndKick(f);
            int reaped = 0;
            for (UsedElement e; (e = f.driver.pollUsed()) != null; reaped++) {
                int id = idOfHead[e.id()];
                long base = DATA + slotOfHead[e.id()] * SLOT_BYTES;
                long answer = f.mock.memory().regionAt(base).segment().get(ValueLayout.JAVA_LONG_UNALIGNED, base + 16);
                assertEquals(8, e.length(), "used length of request " + id);
                assertEquals(id * 3L + 1, answer, "data written for request " + id);
                if (done[id]) {
                    throw new AssertionError("request " + id + " completed twice");
                }
                done[id] = true;
                freeSlots.add(slotOfHead[e.id()]);
                completed++;
            }
            boolean canSubmit = nextId < REQUESTS && !freeSlots.isEmpty();
            if (reaped == 0 && !canSubmit && completed < REQUESTS && !f.driver.enableInterrupts()) {
                if (!interrupt.tryAcquire(WAKEUP_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                    throw new AssertionError("lost interrupt: " + (nextId - completed) + " requests in flight, " + f.device);
                }
                interrupt.drainPermits();
                f.driver.disableInterrupts();
            }
        }
        for (int id = 0; id < REQUESTS; id++) {
            if (!done[id]) {
                throw new AssertionError("request " + id + " never completed");
            }
        }
    }

    private void publishAndKick(QueueFixture f) {
        f.driver.publish();
        if (f.driver.kickNeeded()) {
            kick.release();
        }
    }

    private void runDevice(SplitQueue queue) throws Exception {
        DescriptorChain chain = queue.newChain();
        MemorySegment word = Arena.ofAuto().allocate(8);
        int[] popped = new int[QUEUE_SIZE];
        while (!stop) {
            do {
                queue.disableKicks();
                int n = 0;
                int head;
                while ((head = queue.pop(chain)) >= 0) {
                    if (!chain.isValid()) {
                        throw new AssertionError("invalid chain " + chain);
                    }
                    long id = chain.read(0, word, 0, 8) ? word.get(ValueLayout.JAVA_LONG_UNALIGNED, 0) : -1;
                    word.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, id * 3 + 1);
                    if (!chain.write(word, 0, 0, 8)) {
                        throw new AssertionError("cannot write to " + chain);
                    }
                    popped[n++] = head;
                    devicePopped++;
                }
                if (head == SplitQueue.BROKEN) {
                    throw new AssertionError("queue broken: " + queue.brokenReason());
                }
                // complete out of order, publishing every few elements
                for (int i = n - 1; i >= 0; i--) {
                    queue.stageUsed(popped[i], 8);
                    if (i % 3 == 0) {
                        queue.publishUsed();
                        if (queue.needsNotification()) {
                            interrupt.release();
                        }
                    }
                }
                queue.publishUsed();
                if (queue.needsNotification()) {
                    interrupt.release();
                }
            } while (queue.enableKicks());
            if (!kick.tryAcquire(WAKEUP_TIMEOUT_SECONDS, TimeUnit.SECONDS) && !stop) {
                throw new AssertionError("lost kick: " + queue);
            }
            kick.drainPermits();
        }
    }
}
