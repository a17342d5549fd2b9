package dev.vublk.block.raw;

import dev.vublk.block.ImageFormat;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps a RAW image whose format was detected, not given, detecting as RAW. Otherwise a guest
 * could write a qcow2 header naming a host file as its backing file or data file, and on the next
 * start the backend would open that file for the guest. Writes starting in the first sector are
 * checked on the worker's own copy of the data (the guest could change its buffer after the check)
 * and refused if they would start the file with another format's magic, as QEMU's raw driver does
 * for probed images. Zeroing and discard leave zeros there, which no format claims, so they pass.
 */
final class FirstSectorGuard {
    private static final Logger LOG = LoggerFactory.getLogger(FirstSectorGuard.class);

    /** Writes starting below this offset are checked: the magic lies in the first bytes. */
    static final long GUARDED_BYTES = 512;

    private final String path;
    private final AtomicBoolean reported = new AtomicBoolean();

    FirstSectorGuard(String path) {
        this.path = path;
    }

    /** Whether a write of {@code data} (a private copy) at {@code offset} must be refused. */
    boolean refuses(long offset, MemorySegment data) {
        if (offset != 0) {
            // Requests are sector-aligned, so only offset 0 covers the magic; anything else is out of range.
            return offset < GUARDED_BYTES;
        }
        ImageFormat seen = ImageFormat.detect(data);
        if (seen == ImageFormat.RAW) {
            return false;
        }
        if (reported.compareAndSet(false, true)) {
            LOG.warn("{}: refused a guest write that would make this probed RAW image look like {} (further refusals"
                    + " are not logged); serve it with --format raw to allow such writes", path, seen);
        }
        return true;
    }
}
