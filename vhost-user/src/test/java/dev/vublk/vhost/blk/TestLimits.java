package dev.vublk.vhost.blk;

import java.util.Map;

/** {@link IoLimits} for tests, by QEMU's field names: {@code TestLimits.of("iops", 100, "iops_max", 1000)}. */
final class TestLimits {
    private TestLimits() {}

    static IoLimits of(Object... nameValue) {
        Map<String, Long> m = new java.util.HashMap<>();
        for (int i = 0; i < nameValue.length; i += 2) {
            m.put((String) nameValue[i], ((Number) nameValue[i + 1]).longValue());
        }
        String[] names = {"iops", "iops_rd", "iops_wr", "bps", "bps_rd", "bps_wr"};
        long[] v = new long[18];
        for (int i = 0; i < 6; i++) {
            v[i] = m.getOrDefault(names[i], 0L);
            v[6 + i] = m.getOrDefault(names[i] + "_max", 0L);
            v[12 + i] = m.getOrDefault(names[i] + "_max_length", 1L);
        }
        return new IoLimits(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11],
                v[12], v[13], v[14], v[15], v[16], v[17]);
    }
}
