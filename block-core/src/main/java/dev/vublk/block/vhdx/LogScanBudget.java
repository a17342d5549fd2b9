package dev.vublk.block.vhdx;

/**
 * Bounds the bytes checksummed while searching a log, so that a crafted log (entries claiming
 * the whole ring at every sector) cannot turn the search quadratic.
 */
final class LogScanBudget {
    /** The budget ran out: the log is treated as damaged. */
    static final class Exhausted extends Exception {
        Exhausted(long spent) {
            super("log search checksummed " + spent + " bytes without settling; the log looks crafted or damaged");
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
