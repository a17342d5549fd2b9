package dev.vublk.block.vhdx;

/**
 * Bounds the work of searching a log, counted in bytes: those checksummed, and one sector per
 * step of a walk along the ring. A crafted log (entries claiming the whole ring at every sector,
 * or a long run of entries that never completes a sequence) cannot turn the search quadratic.
 */
final class LogScanBudget {
    /** The budget ran out: the log is treated as damaged. */
    static final class Exhausted extends Exception {
        Exhausted(long spent) {
            super("log search spent " + spent + " bytes of work without settling; the log looks crafted or damaged");
        }
    }

    private final long limit;
    private long spent;

    LogScanBudget(long limit) {
        this.limit = limit;
    }

    void charge(long bytes) throws Exhausted {
        spent += bytes;
        if (spent > limit) {
            throw new Exhausted(spent);
        }
    }
}
