package dev.vublk.block.qcow2;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Reads and writes refcount entries of 1 to 64 bits inside a refcount block. Entries narrower
 * than a byte are packed starting at the least significant bit, wider ones are big-endian.
 */
public final class RefcountCodec {
    private static final VarHandle SHORT = MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.BIG_ENDIAN);
    private static final VarHandle INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.BIG_ENDIAN);
    private static final VarHandle LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);

    private final int order;

    public RefcountCodec(int order) {
        if (order < 0 || order > 6) {
            throw new IllegalArgumentException("refcount order " + order);
        }
        this.order = order;
    }

    public int bits() { return 1 << order; }

    /** The largest storable refcount, as an unsigned long. */
    public long max() {
        return order == 6 ? -1L : (1L << bits()) - 1;
    }

    public int entriesPerBlock(int clusterSize) {
        return (int) ((long) clusterSize * 8 >>> order);
    }

    public long get(byte[] block, int index) {
        return switch (order) {
            case 0, 1, 2 -> {
                int bits = bits();
                int perByte = 8 / bits;
                int shift = (index % perByte) * bits;
                yield (block[index / perByte] >>> shift) & ((1 << bits) - 1);
            }
            case 3 -> block[index] & 0xffL;
            case 4 -> (short) SHORT.get(block, index * 2) & 0xffffL;
            case 5 -> (int) INT.get(block, index * 4) & 0xffffffffL;
            default -> (long) LONG.get(block, index * 8);
        };
    }

    public void set(byte[] block, int index, long value) {
        switch (order) {
            case 0, 1, 2 -> {
                int bits = bits();
                int perByte = 8 / bits;
                int shift = (index % perByte) * bits;
                int mask = ((1 << bits) - 1) << shift;
                int b = block[index / perByte] & ~mask;
                block[index / perByte] = (byte) (b | (((int) value << shift) & mask));
            }
            case 3 -> block[index] = (byte) value;
            case 4 -> SHORT.set(block, index * 2, (short) value);
            case 5 -> INT.set(block, index * 4, (int) value);
            default -> LONG.set(block, index * 8, value);
        }
    }
}
