package dev.vublk.tests.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.BlkCompletion;
import dev.vublk.tests.frontend.BlkQueueDriver;
import dev.vublk.tests.frontend.GuestBuffer;
import dev.vublk.tests.frontend.GuestRam;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import dev.vublk.uring.NativeFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * One thread per queue doing random 4 KiB reads and writes, 8 in flight, each thread in its own
 * block range; every read is checked against an in-memory model when it completes, then the
 * whole range is read back through the device and straight from the image file.
 */
final class ConcurrentIoChecker {
    static final int BLOCK = 4096, BLOCKS_PER_QUEUE = 64, DEPTH = 8;

    private record Op(int block, byte[] written, GuestBuffer buffer) {}

    private final VhostUserBlkFrontend fe;
    private final byte[][] model;
    private final long baseSector;

    ConcurrentIoChecker(VhostUserBlkFrontend fe, long sectors) {
        this.fe = fe;
        this.model = new byte[fe.queueCount() * BLOCKS_PER_QUEUE][];
        this.baseSector = sectors / 2; // away from what other parts of a test wrote
    }

    /** What the image holds once the run is over, as a RAW file (an export, for network storage). */
    @FunctionalInterface
    interface ImageContent {
        Path get() throws Exception;
    }

    void run(int opsPerQueue, ImageContent image) throws Exception {
        run(opsPerQueue);
        verifyRawFile(image.get());
    }

    /** Drives every queue at once, then reads everything back through the device and flushes. */
    void run(int opsPerQueue) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(fe.queueCount());
        try {
            List<Future<Integer>> results = new ArrayList<>();
            for (int q = 0; q < fe.queueCount(); q++) {
                int queue = q;
                results.add(pool.submit(() -> drive(queue, opsPerQueue)));
            }
            for (Future<Integer> r : results) {
                assertEquals(opsPerQueue, r.get(60, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
        BlkQueueDriver q0 = fe.queue(0);
        for (int b = 0; b < model.length; b++) {
            assertArrayEquals(expected(b), q0.read(sector(b), BLOCK).data(), "block " + b + " read back on queue 0");
        }
        assertEquals(BlkCommand.S_OK, q0.flush().status());
    }

    /** The guest's view, as a raw file: for RAW the image itself, else {@code qemu-img convert}'s output. */
    void verifyRawFile(Path image) throws Exception {
        try (NativeFile file = NativeFile.open(image, false, false)) {
            for (int b = 0; b < model.length; b++) {
                assertArrayEquals(expected(b), file.readBytes(sector(b) * 512, BLOCK), "block " + b + " in the image file");
            }
        }
    }

    private long sector(int block) {
        return baseSector + (long) block * (BLOCK / 512);
    }

    private byte[] expected(int block) {
        return model[block] != null ? model[block] : new byte[BLOCK];
    }

    private int drive(int queue, int ops) {
        BlkQueueDriver q = fe.queue(queue);
        GuestRam ram = fe.ram();
        Random rnd = new Random(queue * 7919L + 1);
        boolean[] busy = new boolean[BLOCKS_PER_QUEUE];
        int issued = 0, done = 0;
        while (done < ops) {
            boolean offered = false;
            while (q.inFlight() < DEPTH && issued < ops) {
                int local = rnd.nextInt(BLOCKS_PER_QUEUE);
                if (busy[local]) {
                    continue;
                }
                busy[local] = true;
                int block = queue * BLOCKS_PER_QUEUE + local;
                GuestBuffer buf = ram.allocate(0, BLOCK, 512);
                if (rnd.nextBoolean()) {
                    byte[] data = Patterns.bytes(((long) queue << 32) | issued, BLOCK);
                    ram.write(buf, data);
                    q.offer(BlkCommand.write(sector(block), buf).attach(new Op(block, data, buf)));
                } else {
                    ram.fill(buf, (byte) 0x5a);
                    q.offer(BlkCommand.read(sector(block), buf).attach(new Op(block, null, buf)));
                }
                issued++;
                offered = true;
            }
            if (offered) {
                q.publish();
            }
            BlkCompletion c = q.await();
            Op op = (Op) c.command().attachment();
            assertEquals(BlkCommand.S_OK, c.status(), "queue " + queue + " block " + op.block());
            if (op.written() != null) {
                assertEquals(1, c.usedLength());
                model[op.block()] = op.written();
            } else {
                assertEquals(BLOCK + 1, c.usedLength());
                assertArrayEquals(expected(op.block()), ram.read(op.buffer()), "queue " + queue + " read of block " + op.block());
            }
            ram.free(op.buffer());
            busy[op.block() - queue * BLOCKS_PER_QUEUE] = false;
            done++;
        }
        return done;
    }
}
