package dev.vublk.vhost;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Sizes of the fixed payload layouts; the layouts themselves are the records beside this class. */
public final class Payloads {
    public static final int U64 = 8;
    public static final int VRING_STATE = 8;
    public static final int VRING_ADDRESS = 40;
    public static final int REGION = 32;
    /** SET_MEM_TABLE carries at most this many regions (VHOST_MEMORY_BASELINE_NREGIONS). */
    public static final int MAX_TABLE_REGIONS = 8;
    public static final int MEM_TABLE_MAX = 8 + MAX_TABLE_REGIONS * REGION;
    public static final int SINGLE_REGION = 8 + REGION;
    public static final int CONFIG_HEADER = 12;
    public static final int CONFIG_SPACE_MAX = 256;
    public static final int CONFIG_MAX = CONFIG_HEADER + CONFIG_SPACE_MAX;
    public static final int INFLIGHT_MIN = 20;
    public static final int LOG = 16;

    private Payloads() {}

    static ByteBuffer allocate(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    public static ByteBuffer u64(long value) {
        return allocate(U64).putLong(0, value);
    }
}
