package dev.vublk.vhost.blk;

/**
 * What the statistics count a request as: its virtio-blk type, with every type this device does
 * not serve (and a header too short to carry one) in {@link #UNKNOWN}. Each kind belongs to
 * one of the latency histograms' classes: reads, writes, and the rest.
 */
public enum RequestKind {
    READ("read", LatencyClass.READ),
    WRITE("write", LatencyClass.WRITE),
    FLUSH("flush", LatencyClass.OTHER),
    DISCARD("discard", LatencyClass.OTHER),
    WRITE_ZEROES("write_zeroes", LatencyClass.OTHER),
    GET_ID("get_id", LatencyClass.OTHER),
    UNKNOWN("unknown", LatencyClass.OTHER);

    /** The latency histograms kept per queue: reads and writes apart, everything else together. */
    public enum LatencyClass {
        READ("read"), WRITE("write"), OTHER("other");

        private final String label;

        LatencyClass(String label) {
            this.label = label;
        }

        /** The name in query-stats and in metric labels. */
        public String label() {
            return label;
        }
    }

    private final String label;
    private final LatencyClass latencyClass;

    RequestKind(String label, LatencyClass latencyClass) {
        this.label = label;
        this.latencyClass = latencyClass;
    }

    /** The name in query-stats, in metric labels and in the log line's counters. */
    public String label() {
        return label;
    }

    public LatencyClass latencyClass() {
        return latencyClass;
    }

    /** The kind of a request of virtio-blk type {@code type} (-1 when its header was unreadable). */
    static RequestKind of(int type) {
        return switch (type) {
            case BlkRequestType.IN -> READ;
            case BlkRequestType.OUT -> WRITE;
            case BlkRequestType.FLUSH -> FLUSH;
            case BlkRequestType.DISCARD -> DISCARD;
            case BlkRequestType.WRITE_ZEROES -> WRITE_ZEROES;
            case BlkRequestType.GET_ID -> GET_ID;
            default -> UNKNOWN;
        };
    }
}
