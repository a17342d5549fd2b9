package dev.vublk.vhost.blk;

/** virtio-blk and transport feature bits (virtio 1.2, 5.2.3 and 6). */
public final class BlkFeatures {
    public static final int SIZE_MAX = 1, SEG_MAX = 2, GEOMETRY = 4, RO = 5, BLK_SIZE = 6, FLUSH = 9,
            TOPOLOGY = 10, CONFIG_WCE = 11, MQ = 12, DISCARD = 13, WRITE_ZEROES = 14;
    public static final int RING_INDIRECT_DESC = 28, RING_EVENT_IDX = 29, VERSION_1 = 32;

    private static final String[] NAMES = new String[33];

    static {
        String[] named = {"SIZE_MAX", "1", "SEG_MAX", "2", "GEOMETRY", "4", "RO", "5", "BLK_SIZE", "6", "FLUSH", "9",
            "TOPOLOGY", "10", "CONFIG_WCE", "11", "MQ", "12", "DISCARD", "13", "WRITE_ZEROES", "14",
            "LOG_ALL", "26", "RING_INDIRECT_DESC", "28", "RING_EVENT_IDX", "29", "PROTOCOL_FEATURES", "30",
            "VERSION_1", "32"};
        for (int i = 0; i < named.length; i += 2) {
            NAMES[Integer.parseInt(named[i + 1])] = named[i];
        }
    }

    private BlkFeatures() {}

    /** The bits of {@code features} by name, for logs. */
    static String names(long features) {
        return dev.vublk.vhost.BitNames.of(features, NAMES);
    }

    static long of(int... bits) {
        long f = 0;
        for (int b : bits) {
            f |= 1L << b;
        }
        return f;
    }
}
