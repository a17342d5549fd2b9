package dev.vublk.tests.bench;

import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.BlkCompletion;
import dev.vublk.tests.frontend.BlkQueueDriver;
import dev.vublk.tests.frontend.GuestBuffer;
import dev.vublk.tests.frontend.GuestRam;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * One driver thread on one queue: keeps {@code depth} requests in flight until the deadline,
 * publishing each refill as one batch (one kick at most), and records each request's latency
 * from offer to the driver seeing it used. Sequential cases walk this queue's own slice of the disk.
 */
final class QueueWorker implements Callable<QueueWorker> {
    private final BlkQueueDriver queue;
    private final BenchCase bench;
    private final int depth;
    private final long sliceStart;
    private final long sliceBlocks;
    private final long warmupEnd;
    private final long deadline;
    final LatencyRecorder latencies = new LatencyRecorder();
    long completed;
    /**
     * Completions seen in the measured window whatever their offer time: the rate an I/O limit
     * lets through (requests offered before the window may wait in the ring into it).
     */
    long completedInWindow;
    long errors;

    /** Per-slot state: the buffer and the offer time of the request using it. */
    private record Slot(GuestBuffer buffer, long[] offeredAt) {}

    QueueWorker(BlkQueueDriver queue, BenchCase bench, int depth, long sliceStart, long sliceBlocks, long warmupEnd,
                long deadline) {
        this.queue = queue;
        this.bench = bench;
        this.depth = depth;
        this.sliceStart = sliceStart;
        this.sliceBlocks = sliceBlocks;
        this.warmupEnd = warmupEnd;
        this.deadline = deadline;
    }

    @Override
    public QueueWorker call() {
        GuestRam ram = queue.ram();
        SplittableRandom rnd = new SplittableRandom(sliceStart);
        Slot[] free = new Slot[depth];
        int freeCount = depth;
        for (int i = 0; i < depth; i++) {
            GuestBuffer b = ram.allocate(0, bench.blockSize, 4096);
            ram.fill(b, (byte) i);
            free[i] = new Slot(b, new long[1]);
        }
        long next = 0;
        int sectorsPerBlock = bench.blockSize / 512;
        while (true) {
            long now = System.nanoTime();
            boolean running = now < deadline;
            if (running && freeCount > 0) {
                while (freeCount > 0) {
                    Slot s = free[--freeCount];
                    long block = bench.random ? rnd.nextLong(sliceBlocks) : (next++ % sliceBlocks);
                    long sector = (sliceStart + block) * sectorsPerBlock;
                    BlkCommand c = bench.write ? BlkCommand.write(sector, s.buffer()) : BlkCommand.read(sector, s.buffer());
                    s.offeredAt()[0] = now;
                    queue.offer(c.attach(s));
                }
                queue.publish();
            }
            if (queue.inFlight() == 0) {
                break;
            }
            BlkCompletion done = queue.await();
            long t = System.nanoTime();
            do {
                Slot s = (Slot) done.command().attachment();
                if (!done.ok()) {
                    errors++;
                }
                if (t >= warmupEnd && t <= deadline) {
                    completedInWindow++;
                }
                if (s.offeredAt()[0] >= warmupEnd && t <= deadline) {
                    completed++;
                    latencies.record(t - s.offeredAt()[0]);
                }
                free[freeCount++] = s;
                done = queue.poll();
            } while (done != null);
        }
        for (Slot s : free) {
            ram.free(s.buffer());
        }
        return this;
    }
}
