package dev.vublk.vhost.blk;

import static dev.vublk.vhost.blk.BlkRequestType.DISCARD;
import static dev.vublk.vhost.blk.BlkRequestType.FLUSH;
import static dev.vublk.vhost.blk.BlkRequestType.GET_ID;
import static dev.vublk.vhost.blk.BlkRequestType.HEADER_BYTES;
import static dev.vublk.vhost.blk.BlkRequestType.IN;
import static dev.vublk.vhost.blk.BlkRequestType.OUT;
import static dev.vublk.vhost.blk.BlkRequestType.SEGMENT_BYTES;
import static dev.vublk.vhost.blk.BlkRequestType.S_IOERR;
import static dev.vublk.vhost.blk.BlkRequestType.S_OK;
import static dev.vublk.vhost.blk.BlkRequestType.S_UNSUPP;
import static dev.vublk.vhost.blk.BlkRequestType.WRITE_ZEROES;
import static dev.vublk.vhost.blk.BlkRequestType.WRITE_ZEROES_UNMAP;

import dev.vublk.block.BlockWorker;
import dev.vublk.virtqueue.DescriptorChain;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns a descriptor chain into block operations. Everything the guest controls (header fields,
 * lengths, sector ranges, segment counts) is checked here before any I/O starts; a request that
 * fails a check completes with IOERR or UNSUPP and the queue goes on.
 */
final class BlkRequestParser {
    private static final Logger LOG = LoggerFactory.getLogger(BlkRequestParser.class);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    private final BlkDevice device;
    private final int blockSize;
    /** seg_max of the config space: data descriptors one request may use. */
    private final int segMax;
    /** Whether a refused request was already logged at warning level (later ones at debug). */
    private boolean warned;
    /** Scratch for headers and discard segments: parsing happens on the queue thread only. */
    private final MemorySegment scratch = Arena.ofAuto().allocate(BlkConfig.MAX_DISCARD_SEGMENTS * SEGMENT_BYTES, 8);
    private final long[] segOffsets = new long[BlkConfig.MAX_DISCARD_SEGMENTS];
    private final long[] segLengths = new long[BlkConfig.MAX_DISCARD_SEGMENTS];
    private final boolean[] segUnmap = new boolean[BlkConfig.MAX_DISCARD_SEGMENTS];
    private final MemorySegment serial;

    BlkRequestParser(BlkDevice device) {
        this.device = device;
        this.blockSize = device.logicalBlockSize();
        this.segMax = device.segMax();
        this.serial = MemorySegment.ofArray(device.serial());
    }

    /** Starts the request in {@code chain}; {@code r} is completed through its owner in every case. */
    void start(DescriptorChain chain, BlkRequest r) {
        RequestOwner owner = r.owner();
        long statusAddress = statusAddress(chain);
        if (!chain.isValid() || statusAddress == 0) {
            refuse(owner, chain.head(), "dropped as a malformed descriptor chain",
                    chain.isValid() ? "no device-writable status byte" : chain.error().description());
            owner.discardChain(chain.head());
            owner.releaseUnstarted(r);
            return;
        }
        r.reset(chain.head(), -1, statusAddress);
        if (owner.logsWrites()) {
            r.recordWritable(chain);
        }
        if (chain.readableBytes() < HEADER_BYTES || !chain.read(0, scratch, 0, HEADER_BYTES)) {
            owner.finish(r, S_IOERR, 0);
            return;
        }
        r.type = scratch.get(U32, 0);
        long sector = scratch.get(U64, 8);
        BlockWorker worker = r.worker();
        switch (r.type) {
            case IN -> {
                long length = readBytes(chain);
                long offset = checkedRange(sector, length);
                if (offset < 0 || !withinSegmentLimits(owner, chain, true, 0, length) || !collect(chain, true, 0, length, r)) {
                    owner.finish(r, S_IOERR, 0);
                    return;
                }
                r.usedLength = (int) (length + 1);
                r.expect();
                worker.read(offset, r.data, r, 0);
            }
            case OUT -> {
                long length = writeBytes(chain);
                long offset = checkedRange(sector, length);
                if (device.image().readOnly() || offset < 0 || !withinSegmentLimits(owner, chain, false, HEADER_BYTES, length)
                        || !collect(chain, false, HEADER_BYTES, length, r)) {
                    owner.finish(r, S_IOERR, 0);
                    return;
                }
                r.expect();
                if (device.writeThrough()) {
                    r.flushAfter();
                }
                worker.write(offset, r.data, r, 0);
            }
            case FLUSH -> {
                r.expect();
                worker.flush(r, 0);
            }
            case GET_ID -> {
                int n = (int) Math.min(BlkConfig.ID_BYTES, chain.writableBytes() - 1);
                chain.write(serial, 0, 0, n);
                r.usedLength = n + 1;
                owner.finish(r, S_OK, 0);
            }
            case DISCARD, WRITE_ZEROES -> zeroRanges(chain, r, r.type == DISCARD);
            default -> owner.finish(r, S_UNSUPP, 0);
        }
    }

    /**
     * Asks {@code throttle} whether the request in {@code chain}, popped but not started, may
     * start at {@code now}, and charges it if so. Only reads and writes count, with the data
     * bytes {@link #start} would move (QEMU limits those alone); anything else, including a
     * chain {@link #start} refuses without I/O, may always start.
     *
     * @return 0 when it may start, else the nanoseconds until it may
     */
    long admit(DescriptorChain chain, Throttle throttle, long now) {
        if (!chain.isValid() || chain.readableBytes() < HEADER_BYTES || !chain.read(0, scratch, 0, 4)) {
            return 0;
        }
        return switch (scratch.get(U32, 0)) {
            case IN -> throttle.admit(Throttle.READ, readBytes(chain), now);
            case OUT -> throttle.admit(Throttle.WRITE, writeBytes(chain), now);
            default -> 0;
        };
    }

    /** Data bytes of a read: every writable byte but the status. */
    private static long readBytes(DescriptorChain chain) {
        return chain.writableBytes() - 1;
    }

    /** Data bytes of a write: every readable byte after the header. */
    private static long writeBytes(DescriptorChain chain) {
        return chain.readableBytes() - HEADER_BYTES;
    }

    /** Native address of the last writable byte, or 0 when there is none. */
    private static long statusAddress(DescriptorChain chain) {
        if (chain.writableBytes() < 1) {
            return 0;
        }
        long gpa = chain.sectionAddress(true, chain.writableBytes() - 1);
        if (gpa < 0) {
            return 0;
        }
        long host = chain.memory().hostAddress(gpa, 1);
        return host < 0 ? 0 : host;
    }

    /** The byte offset of a request, or -1 when it is misaligned or reaches past the capacity. */
    private long checkedRange(long sector, long length) {
        if (sector < 0 || sector > (Long.MAX_VALUE >> 9) || length < 0) {
            return -1;
        }
        long offset = sector << 9;
        long capacity = device.image().size(); // read per request: an online resize changes it
        if (offset % blockSize != 0 || length % blockSize != 0 || offset > capacity || length > capacity - offset) {
            return -1;
        }
        return offset;
    }

    /**
     * Whether the data bytes {@code [from, from+length)} of a section keep to what the config
     * space promised the driver: at most seg_max descriptors carry them, none of them more than
     * size_max bytes. This also bounds one request's transfer to seg_max * size_max bytes.
     */
    private boolean withinSegmentLimits(RequestOwner owner, DescriptorChain chain, boolean writable, long from, long length) {
        int start = writable ? chain.firstWritable() : 0;
        int end = writable ? chain.size() : chain.firstWritable();
        long pos = 0;
        int segments = 0;
        for (int i = start; i < end; i++) {
            long len = chain.length(i);
            long bytes = Math.min(pos + len, from + length) - Math.max(pos, from);
            pos += len;
            if (bytes <= 0) {
                continue; // the header, the status byte, or a zero-length descriptor: not a data segment
            }
            if (++segments > segMax) {
                refuse(owner, chain.head(), "refused with IOERR", "more than seg_max " + segMax + " data segments");
                return false;
            }
            if (bytes > BlkConfig.MAX_SEGMENT_BYTES) {
                refuse(owner, chain.head(), "refused with IOERR", "a data segment of " + bytes + " bytes, more than size_max " + BlkConfig.MAX_SEGMENT_BYTES);
                return false;
            }
        }
        return true;
    }

    /**
     * Logs a refused request: the first at warning level, later ones at debug, since a guest can
     * send them as fast as it likes.
     */
    private void refuse(RequestOwner owner, int head, String outcome, String reason) {
        if (!warned) {
            warned = true;
            LOG.warn("queue {}: request at head {} {}: {} (further refusals are logged at debug level)",
                    owner.index(), head, outcome, reason);
        } else {
            LOG.debug("queue {}: request at head {} {}: {}", owner.index(), head, outcome, reason);
        }
    }

    private static boolean collect(DescriptorChain chain, boolean writable, long from, long length, BlkRequest r) {
        return length == 0 || chain.forEachPiece(writable, from, length, r.addPiece) > 0;
    }

    private void zeroRanges(DescriptorChain chain, BlkRequest r, boolean discard) {
        RequestOwner owner = r.owner();
        long bytes = chain.readableBytes() - HEADER_BYTES;
        int count = (int) Math.min(Integer.MAX_VALUE, bytes / SEGMENT_BYTES);
        if (device.image().readOnly() || bytes % SEGMENT_BYTES != 0 || count < 1
                || count > BlkConfig.MAX_DISCARD_SEGMENTS
                || !chain.read(HEADER_BYTES, scratch, 0, (long) count * SEGMENT_BYTES)) {
            owner.finish(r, S_IOERR, 0);
            return;
        }
        for (int i = 0; i < count; i++) {
            long at = (long) i * SEGMENT_BYTES;
            long sector = scratch.get(U64, at);
            long sectors = Integer.toUnsignedLong(scratch.get(U32, at + 8));
            int flags = scratch.get(U32, at + 12);
            int allowed = discard ? 0 : WRITE_ZEROES_UNMAP;
            if ((flags & ~allowed) != 0) {
                owner.finish(r, S_UNSUPP, 0);
                return;
            }
            segUnmap[i] = (flags & WRITE_ZEROES_UNMAP) != 0;
            long offset = sectors > BlkConfig.MAX_ZERO_SECTORS ? -1 : checkedRange(sector, sectors << 9);
            if (offset < 0) {
                owner.finish(r, S_IOERR, 0);
                return;
            }
            segOffsets[i] = offset;
            segLengths[i] = sectors << 9;
        }
        for (int i = 0; i < count; i++) {
            r.expect(); // all counted first: a segment may complete before the next one starts
        }
        BlockWorker worker = r.worker();
        for (int i = 0; i < count; i++) {
            if (discard) {
                worker.discard(segOffsets[i], segLengths[i], r, 0);
            } else {
                worker.writeZeroes(segOffsets[i], segLengths[i], segUnmap[i], r, 0);
            }
        }
    }
}
