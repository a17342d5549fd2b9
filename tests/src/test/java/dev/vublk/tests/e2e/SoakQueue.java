package dev.vublk.tests.e2e;

import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.BlkCompletion;
import dev.vublk.tests.frontend.BlkQueueDriver;
import dev.vublk.tests.frontend.GuestBuffer;
import dev.vublk.tests.frontend.GuestRam;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * One soak driver thread on one queue and its own slice of the disk: keeps {@link #DEPTH}
 * requests in flight until the deadline, a random mix of reads and writes of 1 to 16 blocks,
 * discards and write-zeroes (small, or a whole aligned MiB: whole QCOW2 clusters and VHDX
 * blocks), and flushes. No two requests in flight touch the same block, so the model says what
 * each read must return. Every read is checked when it completes; every failed status counts as
 * an error. Buffers live in per-slot guest RAM allocated once: a request allocates no data array.
 */
final class SoakQueue implements Callable<SoakQueue> {
    static final int DEPTH = 16, MAX_BLOCKS = 16, BIG_CLEAR = 256;
    private static final int SECTORS_PER_BLOCK = SoakModel.BLOCK / 512, KEPT_FAILURES = 5;
    private static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** One request's buffers (reused) and what it is doing now. */
    private static final class Slot {
        final GuestBuffer data, segment;
        final MemorySegment dataBytes, segmentBytes;
        int type, block, blocks, generation;

        Slot(GuestRam ram) {
            data = ram.allocate(0, MAX_BLOCKS * SoakModel.BLOCK, 4096);
            segment = ram.allocate(0, BlkCommand.SEGMENT_BYTES, 16);
            dataBytes = ram.segment(data);
            segmentBytes = ram.segment(segment);
        }
    }

    private final BlkQueueDriver queue;
    private final SoakModel model;
    private final int first, count;
    private final long deadline;
    private final SplittableRandom rnd;
    private final boolean[] busy;
    private final List<String> failures = new ArrayList<>();
    private int generation;
    /** Completed requests and failed ones (error status or wrong data); one writer, read by the sampler. */
    private volatile long completed, errors;

    /** Drives {@code queue} over blocks {@code [first, first + count)} of {@code model} until {@code deadline} (nanoTime). */
    SoakQueue(BlkQueueDriver queue, SoakModel model, int first, int count, long deadline, long seed) {
        this.queue = queue;
        this.model = model;
        this.first = first;
        this.count = count;
        this.deadline = deadline;
        this.rnd = new SplittableRandom(seed);
        this.busy = new boolean[count];
    }

    long completed() {
        return completed;
    }

    long errors() {
        return errors;
    }

    /** The first few failures, for the test's message. */
    List<String> failures() {
        return failures;
    }

    @Override
    public SoakQueue call() {
        GuestRam ram = queue.ram();
        Slot[] free = new Slot[DEPTH];
        int freeCount = 0;
        for (int i = 0; i < DEPTH; i++) {
            free[freeCount++] = new Slot(ram);
        }
        try {
            while (true) {
                boolean offered = false;
                while (freeCount > 0 && System.nanoTime() < deadline) {
                    Slot s = free[freeCount - 1];
                    if (!issue(s)) {
                        break; // the blocks it picked are busy: wait for a completion
                    }
                    freeCount--;
                    offered = true;
                }
                if (offered) {
                    queue.publish();
                }
                if (queue.inFlight() == 0) {
                    break;
                }
                BlkCompletion c = queue.await();
                do {
                    Slot s = (Slot) c.command().attachment();
                    complete(s, c);
                    free[freeCount++] = s;
                    c = queue.poll();
                } while (c != null);
            }
        } finally {
            for (int i = 0; i < freeCount; i++) {
                ram.free(free[i].data);
                ram.free(free[i].segment);
            }
        }
        return this;
    }

    /** Picks and offers one request in {@code s}; false when its blocks are busy. */
    private boolean issue(Slot s) {
        int dice = rnd.nextInt(100);
        int type = dice < 35 ? BlkCommand.IN : dice < 75 ? BlkCommand.OUT : dice < 85 ? BlkCommand.DISCARD
                : dice < 95 ? BlkCommand.WRITE_ZEROES : BlkCommand.FLUSH;
        s.type = type;
        if (type == BlkCommand.FLUSH) {
            queue.offer(BlkCommand.flush().attach(s));
            return true;
        }
        boolean clearing = type == BlkCommand.DISCARD || type == BlkCommand.WRITE_ZEROES;
        if (clearing && rnd.nextInt(5) == 0) {
            s.blocks = BIG_CLEAR;
            s.block = rnd.nextInt(count / BIG_CLEAR) * BIG_CLEAR;
        } else {
            s.blocks = 1 + rnd.nextInt(clearing ? 2 * MAX_BLOCKS : MAX_BLOCKS);
            s.block = rnd.nextInt(count - s.blocks + 1);
        }
        for (int b = s.block; b < s.block + s.blocks; b++) {
            if (busy[b]) {
                return false;
            }
        }
        for (int b = s.block; b < s.block + s.blocks; b++) {
            busy[b] = true;
        }
        long sector = (long) (first + s.block) * SECTORS_PER_BLOCK;
        int bytes = s.blocks * SoakModel.BLOCK;
        BlkCommand c = switch (type) {
            case BlkCommand.IN -> {
                s.dataBytes.asSlice(0, bytes).fill((byte) 0xa5); // a read that writes nothing shows
                yield BlkCommand.read(sector, new GuestBuffer(s.data.gpa(), bytes));
            }
            case BlkCommand.OUT -> {
                s.generation = ++generation;
                for (int i = 0; i < s.blocks; i++) {
                    SoakModel.fill(s.dataBytes, (long) i * SoakModel.BLOCK, first + s.block + i, s.generation);
                }
                yield BlkCommand.write(sector, new GuestBuffer(s.data.gpa(), bytes));
            }
            default -> {
                s.segmentBytes.set(LE_LONG, 0, sector);
                s.segmentBytes.set(LE_INT, 8, s.blocks * SECTORS_PER_BLOCK);
                s.segmentBytes.set(LE_INT, 12, type == BlkCommand.WRITE_ZEROES && rnd.nextBoolean() ? 1 : 0); // unmap
                yield BlkCommand.zeroing(type, s.segment);
            }
        };
        queue.offer(c.attach(s));
        return true;
    }

    private void complete(Slot s, BlkCompletion c) {
        int bytes = s.type == BlkCommand.IN ? s.blocks * SoakModel.BLOCK : 0;
        boolean ok = c.status() == BlkCommand.S_OK && c.usedLength() == bytes + 1;
        if (!ok) {
            fail(String.format("%s of blocks %d+%d: status %d, used length %d", name(s.type), first + s.block, s.blocks,
                    c.status(), c.usedLength()));
        }
        if (s.type == BlkCommand.FLUSH) {
            completed++;
            return;
        }
        boolean checked = !ok; // a failed read was counted already; its buffer says nothing
        for (int i = 0; i < s.blocks; i++) {
            int block = first + s.block + i;
            switch (s.type) {
                case BlkCommand.IN -> {
                    String wrong = checked ? null : model.check(s.dataBytes, (long) i * SoakModel.BLOCK, block);
                    if (wrong != null) {
                        fail("read of blocks " + (first + s.block) + "+" + s.blocks + ": " + wrong);
                        checked = true; // one error per request
                    }
                }
                case BlkCommand.OUT -> {
                    if (ok) {
                        model.wrote(block, s.generation);
                    } else {
                        model.lost(block);
                    }
                }
                case BlkCommand.WRITE_ZEROES -> {
                    if (ok) {
                        model.zeroed(block);
                    } else {
                        model.lost(block);
                    }
                }
                default -> model.discarded(block); // failed or not, a discard may have dropped the data
            }
            busy[s.block + i] = false;
        }
        completed++;
    }

    private void fail(String what) {
        errors++;
        if (failures.size() < KEPT_FAILURES) {
            failures.add("queue " + queue.virtqueue().index() + ": " + what);
        }
    }

    private static String name(int type) {
        return switch (type) {
            case BlkCommand.IN -> "read";
            case BlkCommand.OUT -> "write";
            case BlkCommand.DISCARD -> "discard";
            case BlkCommand.WRITE_ZEROES -> "write-zeroes";
            default -> "flush";
        };
    }
}
