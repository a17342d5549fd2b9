package dev.vublk.vhost.blk;

import dev.vublk.virtqueue.testing.DriverBuffer;
import dev.vublk.virtqueue.testing.DriverQueue;
import dev.vublk.virtqueue.testing.MockGuestMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * A guest with one virtqueue in mock memory that lays out virtio-blk requests the way a driver
 * does: a 16-byte header, data buffers, a 1-byte status (preset to 0xff, so an untouched status
 * is visible). Rings sit at guest address 0, headers and indirect tables after them, data from
 * {@link #DATA} on; allocations are never reused within one guest.
 */
final class BlkGuest implements AutoCloseable {
    static final long DATA = 1 << 20;
    static final byte UNTOUCHED = (byte) 0xff;
    private static final long SMALL = 0x10000;

    final MockGuestMemory mock;
    final DriverQueue driver;
    private long nextSmall = SMALL;
    private long nextData = DATA;

    BlkGuest(int queueSize, long ramBytes) throws Exception {
        mock = new MockGuestMemory(0, ramBytes);
        driver = DriverQueue.createAt(mock.memory(), queueSize, 0, true);
    }

    /** A data buffer of {@code bytes}, 4 KiB aligned. */
    long data(long bytes) {
        long at = nextData;
        nextData = (nextData + bytes + 4095) & ~4095L;
        if (nextData > ramBytes()) {
            throw new IllegalStateException("guest memory exhausted");
        }
        return at;
    }

    private long small(long bytes) {
        long at = nextSmall;
        nextSmall = (nextSmall + bytes + 15) & ~15L;
        if (nextSmall > DATA) {
            throw new IllegalStateException("header area exhausted");
        }
        return at;
    }

    private long ramBytes() {
        return mock.memory().regions().getFirst().size();
    }

    /** A request header: type, reserved, sector. */
    DriverBuffer header(int type, long sector) {
        long at = small(16);
        mock.write(at, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(0, type).putLong(8, sector).array());
        return DriverBuffer.readable(at, 16);
    }

    /** A discard / write-zeroes segment list. Each segment is {sector, sectors, flags}. */
    DriverBuffer segments(long[]... segments) {
        ByteBuffer b = ByteBuffer.allocate(16 * segments.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < segments.length; i++) {
            b.putLong(16 * i, segments[i][0]).putInt(16 * i + 8, (int) segments[i][1]).putInt(16 * i + 12, (int) segments[i][2]);
        }
        long at = data(b.capacity());
        mock.write(at, b.array());
        return DriverBuffer.readable(at, b.capacity());
    }

    /** A status byte, preset to {@link #UNTOUCHED}. */
    DriverBuffer status() {
        long at = small(1);
        mock.write(at, new byte[] {UNTOUCHED});
        return DriverBuffer.writable(at, 1);
    }

    byte statusAt(DriverBuffer status) {
        return mock.read(status.gpa(), 1)[0];
    }

    /** Offers a chain of direct descriptors and publishes it; returns its head. */
    int submit(List<DriverBuffer> buffers) {
        return driver.submit(buffers);
    }

    /** Offers a chain that is one indirect descriptor for {@code buffers} and publishes it. */
    int submitIndirect(List<DriverBuffer> buffers) {
        int head = driver.addIndirect(small(16L * buffers.size()), buffers);
        driver.offer(head);
        driver.publish();
        return head;
    }

    /** {@code header, n buffers of bytes each (writable for reads), status}. */
    static List<DriverBuffer> request(DriverBuffer header, List<DriverBuffer> data, DriverBuffer status) {
        List<DriverBuffer> all = new ArrayList<>();
        all.add(header);
        all.addAll(data);
        all.add(status);
        return all;
    }

    @Override
    public void close() {
        mock.close();
    }
}
