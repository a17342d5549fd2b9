package dev.vublk.virtqueue;

import static dev.vublk.virtqueue.QueueFixture.ADJACENT;
import static dev.vublk.virtqueue.QueueFixture.DATA;
import static dev.vublk.virtqueue.testing.DriverBuffer.readable;
import static dev.vublk.virtqueue.testing.DriverBuffer.writable;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.virtqueue.testing.DriverBuffer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The section helpers a virtio-blk device uses on a popped chain. */
class DescriptorChainTest {
    private QueueFixture f;
    private final Arena arena = Arena.ofConfined();

    @BeforeEach
    void open() throws Exception {
        f = new QueueFixture(16, false);
    }

    @AfterEach
    void close() {
        f.close();
        arena.close();
    }

    private static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (seed + i * 7);
        }
        return b;
    }

    private void pop(List<DriverBuffer> buffers) {
        int head = f.driver.submit(buffers);
        assertEquals(head, f.device.pop(f.chain));
        assertTrue(f.chain.isValid(), f.chain.toString());
    }

    @Test
    void headerSplitOverDescriptorsIsReadAsOneStream() {
        byte[] header = pattern(16, 3);
        f.mock.write(DATA, java.util.Arrays.copyOfRange(header, 0, 5));
        f.mock.write(DATA + 0x100, java.util.Arrays.copyOfRange(header, 5, 16));
        pop(List.of(readable(DATA, 5), readable(DATA + 0x100, 11 + 512), writable(DATA + 0x1000, 1)));
        MemorySegment buf = arena.allocate(16);
        assertTrue(f.chain.read(0, buf, 0, 16));
        assertArrayEquals(header, buf.toArray(ValueLayout.JAVA_BYTE));
        assertFalse(f.chain.read(f.chain.readableBytes() - 8, buf, 0, 16), "past the readable section");
        assertFalse(f.chain.read(-1, buf, 0, 1));
    }

    @Test
    void dataPiecesSkipTheHeaderAndTheStatusByte() {
        // read request: header, then 3 data buffers (the 2nd crosses into the adjacent region), then status
        pop(List.of(readable(DATA, 16),
                writable(DATA + 0x1000, 100),
                writable(ADJACENT - 50, 150),
                writable(DATA + 0x2000, 61)));
        long dataLength = f.chain.writableBytes() - 1;
        assertEquals(310, dataLength);
        List<long[]> pieces = new ArrayList<>();
        int n = f.chain.forEachPiece(true, 0, dataLength, (addr, len) -> pieces.add(new long[] {addr, len}));
        assertEquals(4, n);
        GuestMemory mem = f.chain.memory();
        assertEquals(mem.hostAddress(DATA + 0x1000, 100), pieces.get(0)[0]);
        assertEquals(100, pieces.get(0)[1]);
        assertEquals(mem.hostAddress(ADJACENT - 50, 50), pieces.get(1)[0]);
        assertEquals(50, pieces.get(1)[1]);
        assertEquals(mem.hostAddress(ADJACENT, 100), pieces.get(2)[0]);
        assertEquals(100, pieces.get(2)[1]);
        assertEquals(mem.hostAddress(DATA + 0x2000, 60), pieces.get(3)[0]);
        assertEquals(60, pieces.get(3)[1], "status byte excluded");

        assertTrue(f.chain.putLastWritableByte((byte) 0x5a));
        assertEquals(0x5a, mem.getByte(DATA + 0x2000 + 60));
        assertEquals(DATA + 0x2000 + 60, f.chain.sectionAddress(true, dataLength));
        assertEquals(-1, f.chain.sectionAddress(true, dataLength + 1));
        assertEquals(GuestMemory.UNMAPPED, f.chain.forEachPiece(true, 1, dataLength + 1, (a, l) -> true));
    }

    @Test
    void writeDataLandsInTheWritableBuffersInOrder() {
        pop(List.of(readable(DATA, 16), writable(DATA + 0x1000, 7), writable(ADJACENT - 3, 9), writable(DATA + 0x3000, 1)));
        byte[] data = pattern(16, 11);
        MemorySegment src = arena.allocate(16);
        src.copyFrom(MemorySegment.ofArray(data));
        assertTrue(f.chain.write(src, 0, 0, 16));
        byte[] back = new byte[16];
        System.arraycopy(f.mock.read(DATA + 0x1000, 7), 0, back, 0, 7);
        System.arraycopy(f.mock.read(ADJACENT - 3, 9), 0, back, 7, 9);
        assertArrayEquals(data, back);
        assertFalse(f.chain.write(src, 0, 10, 8), "past the writable section");
    }

    @Test
    void writeAtAnOffsetInsideTheSection() {
        pop(List.of(writable(DATA, 4), writable(DATA + 0x100, 4)));
        MemorySegment src = arena.allocate(3);
        src.copyFrom(MemorySegment.ofArray(new byte[] {1, 2, 3}));
        assertTrue(f.chain.write(src, 0, 3, 3));
        assertArrayEquals(new byte[] {0, 0, 0, 1}, f.mock.read(DATA, 4));
        assertArrayEquals(new byte[] {2, 3, 0, 0}, f.mock.read(DATA + 0x100, 4));
    }

    @Test
    void piecesStopWhenTheConsumerIsFull() {
        pop(List.of(writable(DATA, 4), writable(DATA + 0x100, 4), writable(DATA + 0x200, 4)));
        int[] taken = {0};
        assertEquals(GuestMemory.ABORTED, f.chain.forEachPiece(true, 0, 12, (a, l) -> ++taken[0] < 2));
        assertEquals(2, taken[0]);
    }

    @Test
    void chainWithoutWritableBytesHasNoStatusByte() {
        pop(List.of(readable(DATA, 16)));
        assertFalse(f.chain.putLastWritableByte((byte) 1));
        assertEquals(1, f.chain.firstWritable());
        assertEquals(0, f.chain.writableBytes());
        assertThrows(IndexOutOfBoundsException.class, () -> f.chain.address(1));
    }
}
