package dev.vublk.vhost.blk;

/**
 * I/O limits for one disk, with QEMU's names and meaning ({@code block_set_io_throttle}): per
 * second rates for all requests, reads and writes, in operations and bytes, 0 meaning unlimited;
 * each {@code *Max} is a burst rate allowed for {@code *MaxLength} seconds before the base rate
 * holds again (0: no burst). A total limit excludes the read and write limits of the same kind.
 */
public record IoLimits(long iops, long iopsRd, long iopsWr, long bps, long bpsRd, long bpsWr,
                       long iopsMax, long iopsRdMax, long iopsWrMax, long bpsMax, long bpsRdMax, long bpsWrMax,
                       long iopsMaxLength, long iopsRdMaxLength, long iopsWrMaxLength,
                       long bpsMaxLength, long bpsRdMaxLength, long bpsWrMaxLength) {
    /** The largest rate accepted (QEMU's THROTTLE_VALUE_MAX): 10^15 per second. */
    public static final long MAX_RATE = 1_000_000_000_000_000L;
    /** The longest burst accepted, in seconds: a day. */
    public static final long MAX_BURST_SECONDS = 86_400;

    public static final IoLimits NONE = new IoLimits(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1);

    public IoLimits {
        long[] rates = {iops, iopsRd, iopsWr, bps, bpsRd, bpsWr, iopsMax, iopsRdMax, iopsWrMax, bpsMax, bpsRdMax, bpsWrMax};
        String[] names = {"iops", "iops_rd", "iops_wr", "bps", "bps_rd", "bps_wr"};
        for (int i = 0; i < rates.length; i++) {
            String name = names[i % 6] + (i >= 6 ? "_max" : "");
            if (rates[i] < 0 || rates[i] > MAX_RATE) {
                throw new IllegalArgumentException(name + " must be between 0 and " + MAX_RATE);
            }
            if (i >= 6 && rates[i] != 0 && rates[i] < rates[i - 6]) {
                throw new IllegalArgumentException(name + " must not be lower than " + names[i - 6]);
            }
            if (i >= 6 && rates[i] != 0 && rates[i - 6] == 0) {
                throw new IllegalArgumentException(name + " needs " + names[i - 6] + " to be set");
            }
        }
        long[] lengths = {iopsMaxLength, iopsRdMaxLength, iopsWrMaxLength, bpsMaxLength, bpsRdMaxLength, bpsWrMaxLength};
        for (int i = 0; i < lengths.length; i++) {
            if (lengths[i] < 1 || lengths[i] > MAX_BURST_SECONDS) {
                throw new IllegalArgumentException(names[i] + "_max_length must be between 1 and " + MAX_BURST_SECONDS);
            }
        }
        if (iops != 0 && (iopsRd != 0 || iopsWr != 0)) {
            throw new IllegalArgumentException("iops cannot be combined with iops_rd or iops_wr");
        }
        if (bps != 0 && (bpsRd != 0 || bpsWr != 0)) {
            throw new IllegalArgumentException("bps cannot be combined with bps_rd or bps_wr");
        }
    }

    /** The limits set, with QEMU's names, e.g. {@code iops=500 iops_max=2000/2s bps_wr=10485760}; "none" if none. */
    public String describe() {
        long[] base = {iops, iopsRd, iopsWr, bps, bpsRd, bpsWr};
        long[] max = {iopsMax, iopsRdMax, iopsWrMax, bpsMax, bpsRdMax, bpsWrMax};
        long[] length = {iopsMaxLength, iopsRdMaxLength, iopsWrMaxLength, bpsMaxLength, bpsRdMaxLength, bpsWrMaxLength};
        String[] names = {"iops", "iops_rd", "iops_wr", "bps", "bps_rd", "bps_wr"};
        java.util.StringJoiner j = new java.util.StringJoiner(" ");
        for (int i = 0; i < names.length; i++) {
            if (base[i] != 0) {
                j.add(names[i] + "=" + base[i]);
            }
            if (max[i] != 0) {
                j.add(names[i] + "_max=" + max[i] + "/" + length[i] + "s");
            }
        }
        return j.length() == 0 ? "none" : j.toString();
    }

    /** Whether any limit is set. */
    public boolean limited() {
        return iops != 0 || iopsRd != 0 || iopsWr != 0 || bps != 0 || bpsRd != 0 || bpsWr != 0;
    }
}
