package dev.vublk.vhost.blk;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vublk.virtqueue.GuestMemoryException;
import dev.vublk.virtqueue.VirtqueueException;
import dev.vublk.virtqueue.testing.DriverQueue;
import dev.vublk.virtqueue.testing.MockGuestMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Guest-controlled rings and requests against the queue's per-request path: {@code SplitQueue.pop}
 * (chain walks, indirect tables) then {@link BlkRequestParser} onto a {@link MemoryWorker}.
 *
 * <p>Guest memory is small: a 32 KiB region at guest address 0 holding the rings (laid out by
 * {@link DriverQueue#createAt}, then zeroed), a 4 KiB region GPA-adjacent to it (buffers may span
 * the two), and a 4 KiB region far away. The input is:
 * <pre>
 * byte 0:  bits 0-2 queue size 2^n (at most 16); bit 3 FLUSH acknowledged (write-back);
 *          bit 4 read-only image; bit 5 4096-byte logical blocks
 * then up to {@value #MAX_PATCHES} patches: u16 guest address, u16 length (at most 512), bytes
 * </pre>
 * patched over the low 36 KiB after the rings were laid out: descriptors, avail ring and index,
 * indirect tables, headers, discard segments. Contract: nothing escapes (a broken queue and failed
 * requests are expected outcomes), every iovec the worker sees lies inside one guest region and
 * every operation inside the disk (checked by {@link MemoryWorker}), every popped head completes
 * once, and no more requests complete than the queue size. Work is bounded by the queue size.
 */
class VirtqueueRequestFuzzTest {
    private static final int MAX_PATCHES = 64;
    private static final int MAX_PATCH_BYTES = 512;
    private static final long LOW = 0x8000, ADJACENT = 0x1000, FAR = 0x100000, FAR_SIZE = 0x1000;
    private static final int DISK = 64 << 10;

    static {
        // Nearly every fuzzed request is refused, and each input has a new parser that logs its
        // first refusal: at warning level that output would cost more than the parsing.
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(BlkRequestParser.class))
                .setLevel(ch.qos.logback.classic.Level.ERROR);
    }

    @FuzzTest
    void popAndParse(byte[] input) throws GuestMemoryException, VirtqueueException {
        if (input.length < 1) {
            return;
        }
        int flags = input[0] & 0xff;
        int queueSize = 1 << Math.min(flags & 7, 4);
        boolean writeBack = (flags & 8) != 0;
        boolean readOnly = (flags & 16) != 0;
        int blockSize = (flags & 32) != 0 ? 4096 : 512;
        try (MockGuestMemory mock = new MockGuestMemory(0, LOW, LOW, ADJACENT, FAR, FAR_SIZE)) {
            DriverQueue layout = DriverQueue.createAt(mock.memory(), queueSize, 0, true);
            applyPatches(mock, ByteBuffer.wrap(input, 1, input.length - 1).slice().order(ByteOrder.LITTLE_ENDIAN));
            MemoryWorker worker = new MemoryWorker(DISK, mock.memory());
            BlkDevice device = new BlkDevice(new FakeImage(DISK, readOnly, ring -> worker),
                    new BlkDeviceOptions(1, queueSize, "fuzz", blockSize, true));
            if (writeBack) {
                device.acknowledgeFeatures(1L << BlkFeatures.FLUSH);
            }
            ParseHarness harness = new ParseHarness(device, worker, mock.memory(), queueSize,
                    layout.descGpa(), layout.availGpa(), layout.usedGpa());
            harness.runAvailable();
            int done = harness.completions.size() + harness.discarded.size();
            if (done > queueSize) {
                throw new AssertionError(done + " requests completed on a queue of " + queueSize);
            }
            if (harness.queue.ownedCount() != 0) {
                throw new AssertionError(harness.queue.ownedCount() + " heads still owned after every request completed");
            }
        }
    }

    private static void applyPatches(MockGuestMemory mock, ByteBuffer in) {
        for (int i = 0; i < MAX_PATCHES && in.remaining() >= 4; i++) {
            int at = Short.toUnsignedInt(in.getShort());
            int length = Math.min(Math.min(Short.toUnsignedInt(in.getShort()), MAX_PATCH_BYTES), in.remaining());
            length = (int) Math.min(length, LOW + ADJACENT - at);
            byte[] bytes = new byte[Math.max(0, length)];
            in.get(bytes);
            if (bytes.length > 0) {
                mock.write(at, bytes);
            }
        }
    }
}
