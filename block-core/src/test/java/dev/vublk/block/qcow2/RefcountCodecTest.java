package dev.vublk.block.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class RefcountCodecTest {
    @Test
    void everyWidthRoundTripsWithoutTouchingNeighbours() {
        for (int order = 0; order <= 6; order++) {
            RefcountCodec c = new RefcountCodec(order);
            byte[] block = new byte[512];
            int n = c.entriesPerBlock(512);
            assertEquals(512 * 8 / (1 << order), n);
            for (int i = 0; i < n; i++) {
                c.set(block, i, (i * 7L + 3) & c.max());
            }
            for (int i = 0; i < n; i++) {
                assertEquals((i * 7L + 3) & c.max(), c.get(block, i), "order " + order + " index " + i);
            }
        }
    }

    @Test
    void subByteEntriesArePackedFromTheLowBit() {
        RefcountCodec one = new RefcountCodec(0);
        byte[] block = new byte[2];
        one.set(block, 0, 1);
        one.set(block, 9, 1);
        assertEquals(1, block[0]);
        assertEquals(2, block[1]);
        RefcountCodec sixteen = new RefcountCodec(4);
        sixteen.set(block, 0, 0x0102);
        assertEquals(1, block[0]);
        assertEquals(2, block[1]);
    }

    @Test
    void maxPerWidth() {
        assertEquals(1, new RefcountCodec(0).max());
        assertEquals(0xffff, new RefcountCodec(4).max());
        assertEquals(-1L, new RefcountCodec(6).max());
    }
}
