package dev.vublk.tests.bench;

/** One workload: request size, direction, access pattern. */
enum BenchCase {
    RANDREAD_4K("randread-4k", 4096, false, true),
    RANDWRITE_4K("randwrite-4k", 4096, true, true),
    SEQREAD_128K("seqread-128k", 128 * 1024, false, false),
    SEQWRITE_128K("seqwrite-128k", 128 * 1024, true, false);

    final String label;
    final int blockSize;
    final boolean write;
    final boolean random;

    BenchCase(String label, int blockSize, boolean write, boolean random) {
        this.label = label;
        this.blockSize = blockSize;
        this.write = write;
        this.random = random;
    }

    static BenchCase byLabel(String label) {
        for (BenchCase c : values()) {
            if (c.label.equals(label)) {
                return c;
            }
        }
        throw new IllegalArgumentException("unknown case " + label + " (randread-4k, randwrite-4k, seqread-128k, seqwrite-128k)");
    }
}
