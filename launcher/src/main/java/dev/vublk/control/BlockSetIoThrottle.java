package dev.vublk.control;

import dev.vublk.vhost.blk.BlkDisk;
import dev.vublk.vhost.blk.IoLimits;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code block_set_io_throttle} with QEMU's arguments: the six rates are required (0 is
 * unlimited), the {@code _max} bursts and their {@code _max_length} in seconds optional. The new
 * limits replace the old ones as a whole, as in QEMU.
 */
record BlockSetIoThrottle(BlkDisk disk) implements QmpCommand {
    /** QEMU's names of the rates, in {@link IoLimits}' order. */
    static final String[] RATES = {"iops", "iops_rd", "iops_wr", "bps", "bps_rd", "bps_wr"};

    @Override
    public Object execute(Map<String, Object> arguments) throws QmpException {
        QmpArguments args = new QmpArguments(arguments);
        String device = args.optionalString("device");
        String id = args.optionalString("id");
        long[] v = new long[3 * RATES.length];
        for (int i = 0; i < RATES.length; i++) {
            v[i] = args.requiredLong(RATES[i]);
            v[i + RATES.length] = args.optionalLong(RATES[i] + "_max", 0);
            v[i + 2 * RATES.length] = args.optionalLong(RATES[i] + "_max_length", 1);
        }
        args.noOthers(); // every argument is checked before any is acted on, as QEMU does
        DiskCommands.checkDevice(disk, device);
        DiskCommands.checkDevice(disk, id);
        IoLimits limits;
        try {
            limits = new IoLimits(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11],
                    v[12], v[13], v[14], v[15], v[16], v[17]);
        } catch (IllegalArgumentException e) {
            throw new QmpException(DiskCommands.message(e));
        }
        disk.setLimits(limits);
        return Map.of();
    }

    /** The limits under the same names, as {@code query-block} shows them. */
    static Map<String, Object> describe(IoLimits l) {
        long[] v = {l.iops(), l.iopsRd(), l.iopsWr(), l.bps(), l.bpsRd(), l.bpsWr(),
                l.iopsMax(), l.iopsRdMax(), l.iopsWrMax(), l.bpsMax(), l.bpsRdMax(), l.bpsWrMax(),
                l.iopsMaxLength(), l.iopsRdMaxLength(), l.iopsWrMaxLength(), l.bpsMaxLength(), l.bpsRdMaxLength(),
                l.bpsWrMaxLength()};
        Map<String, Object> out = new LinkedHashMap<>();
        for (int i = 0; i < RATES.length; i++) {
            out.put(RATES[i], v[i]);
        }
        for (int i = 0; i < RATES.length; i++) {
            out.put(RATES[i] + "_max", v[i + RATES.length]);
            out.put(RATES[i] + "_max_length", v[i + 2 * RATES.length]);
        }
        return out;
    }
}
