package dev.vublk.vhost.blk;

import java.util.concurrent.atomic.LongAdder;

/** Request counters over the device's lifetime, shared by its queues; logged on disconnect and shutdown. */
public final class BlkStats {
    final LongAdder reads = new LongAdder();
    final LongAdder writes = new LongAdder();
    final LongAdder flushes = new LongAdder();
    final LongAdder discards = new LongAdder();
    final LongAdder writeZeroes = new LongAdder();
    final LongAdder getIds = new LongAdder();
    final LongAdder unsupported = new LongAdder();
    final LongAdder errors = new LongAdder();
    final LongAdder bytesRead = new LongAdder();
    final LongAdder bytesWritten = new LongAdder();

    @Override
    public String toString() {
        return "reads=" + reads.sum() + " writes=" + writes.sum() + " flushes=" + flushes.sum()
                + " discards=" + discards.sum() + " write_zeroes=" + writeZeroes.sum() + " get_id=" + getIds.sum()
                + " unsupported=" + unsupported.sum() + " errors=" + errors.sum()
                + " bytes_read=" + bytesRead.sum() + " bytes_written=" + bytesWritten.sum();
    }
}
