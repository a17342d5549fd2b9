package dev.vublk.tests.frontend;

import dev.vublk.virtqueue.testing.DriverBuffer;
import dev.vublk.virtqueue.testing.UsedElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The virtio-blk driver of one queue: turns {@link BlkCommand}s into header / data / status
 * chains (direct or indirect), keeps any number of them in flight, and matches used elements back
 * to commands. Headers and status bytes live in per-queue slots of guest RAM. One thread at a time.
 */
public final class BlkQueueDriver implements AutoCloseable {
    private static final int SLOT_BYTES = 32, STATUS_OFFSET = 16;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final VirtqueueDriver vq;
    private final GuestRam ram;
    private final int region;
    private final GuestBuffer slotArea;
    private final int[] freeSlots;
    private int freeSlotCount;
    private final BlkCommand[] byHead;
    private final int[] slotByHead;
    private final GuestBuffer[] tableByHead;
    private int inFlight;
    private Duration timeout = Duration.ofSeconds(10);

    public BlkQueueDriver(VirtqueueDriver vq, GuestRam ram, int region) {
        this.vq = vq;
        this.ram = ram;
        this.region = region;
        int n = vq.size();
        this.slotArea = ram.allocate(region, n * SLOT_BYTES, 64);
        this.freeSlots = new int[n];
        for (int i = 0; i < n; i++) {
            freeSlots[i] = n - 1 - i;
        }
        this.freeSlotCount = n;
        this.byHead = new BlkCommand[n];
        this.slotByHead = new int[n];
        this.tableByHead = new GuestBuffer[n];
    }

    public VirtqueueDriver virtqueue() { return vq; }

    public GuestRam ram() { return ram; }

    public int inFlight() { return inFlight; }

    public BlkQueueDriver timeout(Duration t) {
        this.timeout = t;
        return this;
    }

    /** Builds the command's chain and makes it available (not yet published). */
    public int offer(BlkCommand c) {
        if (freeSlotCount == 0) {
            throw new IllegalStateException("queue " + vq.index() + " is full");
        }
        int slot = freeSlots[--freeSlotCount];
        long headerGpa = slotArea.gpa() + (long) slot * SLOT_BYTES;
        MemorySegment s = ram.segment(new GuestBuffer(headerGpa, SLOT_BYTES));
        s.set(U32, 0, c.type());
        s.set(U32, 4, 0);
        s.set(U64, 8, c.sector());
        s.set(ValueLayout.JAVA_BYTE, STATUS_OFFSET, (byte) BlkCommand.STATUS_UNWRITTEN);
        List<DriverBuffer> chain = new ArrayList<>(c.data().size() + 2);
        chain.add(DriverBuffer.readable(headerGpa, BlkCommand.HEADER_BYTES));
        for (GuestBuffer b : c.data()) {
            chain.add(new DriverBuffer(b.gpa(), b.length(), c.dataWritable()));
        }
        chain.add(DriverBuffer.writable(headerGpa + STATUS_OFFSET, 1));
        int head;
        GuestBuffer table = null;
        try {
            if (c.indirect()) {
                table = ram.allocate(region, chain.size() * 16, 16);
                head = vq.ring().addIndirect(table.gpa(), chain);
            } else {
                head = vq.ring().addChain(chain);
            }
        } catch (RuntimeException e) {
            freeSlots[freeSlotCount++] = slot;
            if (table != null) {
                ram.free(table);
            }
            throw e;
        }
        byHead[head] = c;
        slotByHead[head] = slot;
        tableByHead[head] = table;
        vq.ring().offer(head);
        inFlight++;
        return head;
    }

    /** Publishes what was offered and kicks if the device wants it. */
    public void publish() {
        vq.ring().publish();
        vq.kickIfNeeded();
    }

    /** {@link #offer} + {@link #publish}. */
    public int submit(BlkCommand c) {
        int head = offer(c);
        publish();
        return head;
    }

    /** The next completion, or null. */
    public BlkCompletion poll() {
        UsedElement e = vq.poll();
        return e == null ? null : complete(e);
    }

    /** Waits (on the call eventfd) for the next completion. */
    public BlkCompletion await() {
        return complete(vq.await(timeout));
    }

    private BlkCompletion complete(UsedElement e) {
        int head = e.id();
        BlkCommand c = byHead[head];
        if (c == null) {
            throw new IllegalStateException("used head " + head + " was not submitted through this driver");
        }
        byHead[head] = null;
        int slot = slotByHead[head];
        long statusGpa = slotArea.gpa() + (long) slot * SLOT_BYTES + STATUS_OFFSET;
        int status = ram.segment(new GuestBuffer(statusGpa, 1)).get(ValueLayout.JAVA_BYTE, 0) & 0xff;
        freeSlots[freeSlotCount++] = slot;
        if (tableByHead[head] != null) {
            ram.free(tableByHead[head]);
            tableByHead[head] = null;
        }
        inFlight--;
        return new BlkCompletion(c, status, e.length(), statusGpa);
    }

    /** Submits and waits for that very request (nothing else may be in flight). */
    public BlkCompletion run(BlkCommand c) {
        if (inFlight != 0) {
            throw new IllegalStateException(inFlight + " requests already in flight");
        }
        submit(c);
        BlkCompletion done = await();
        if (done.command() != c) {
            throw new IllegalStateException("completion for another request");
        }
        return done;
    }

    // ---- synchronous helpers with buffers allocated in guest RAM ----

    public BlkResult read(long sector, int bytes) {
        return read(sector, bytes, false);
    }

    public BlkResult read(long sector, int bytes, boolean indirect) {
        GuestBuffer b = ram.allocate(region, bytes, 512);
        try {
            ram.fill(b, (byte) 0xa5);
            BlkCompletion done = run(BlkCommand.read(sector, b).indirect(indirect));
            return new BlkResult(done.status(), done.usedLength(), ram.read(b));
        } finally {
            ram.free(b);
        }
    }

    public BlkCompletion write(long sector, byte[] data) {
        return write(sector, data, false);
    }

    public BlkCompletion write(long sector, byte[] data, boolean indirect) {
        GuestBuffer b = ram.allocate(region, data.length, 512);
        try {
            ram.write(b, data);
            return run(BlkCommand.write(sector, b).indirect(indirect));
        } finally {
            ram.free(b);
        }
    }

    public BlkCompletion flush() {
        return run(BlkCommand.flush());
    }

    public BlkResult getId() {
        GuestBuffer b = ram.allocate(region, 20, 8);
        try {
            ram.fill(b, (byte) 0);
            BlkCompletion done = run(BlkCommand.getId(b));
            return new BlkResult(done.status(), done.usedLength(), ram.read(b));
        } finally {
            ram.free(b);
        }
    }

    public BlkCompletion discard(long sector, int sectors) {
        return zeroing(BlkCommand.DISCARD, sector, sectors, 0);
    }

    public BlkCompletion writeZeroes(long sector, int sectors, boolean unmap) {
        return zeroing(BlkCommand.WRITE_ZEROES, sector, sectors, unmap ? 1 : 0);
    }

    /** One DISCARD / WRITE_ZEROES segment with the given flags. */
    public BlkCompletion zeroing(int type, long sector, int sectors, int flags) {
        GuestBuffer b = ram.allocate(region, BlkCommand.SEGMENT_BYTES, 16);
        try {
            ram.write(b, segment(sector, sectors, flags));
            return run(BlkCommand.zeroing(type, b));
        } finally {
            ram.free(b);
        }
    }

    /** {@code struct virtio_blk_discard_write_zeroes}. */
    public static byte[] segment(long sector, int sectors, int flags) {
        return ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(0, sector).putInt(8, sectors)
                .putInt(12, flags).array();
    }

    @Override
    public void close() {
        ram.free(slotArea);
        vq.close();
    }
}
