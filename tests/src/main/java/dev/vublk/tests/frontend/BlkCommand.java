package dev.vublk.tests.frontend;

import java.util.List;

/**
 * One virtio-blk request as the guest driver builds it: type, sector, and the data buffers in
 * guest RAM (device-readable for OUT, DISCARD and WRITE_ZEROES, device-writable for IN and
 * GET_ID). The queue driver adds the header and status descriptors.
 */
public final class BlkCommand {
    public static final int IN = 0, OUT = 1, FLUSH = 4, GET_ID = 8, DISCARD = 11, WRITE_ZEROES = 13;
    public static final int S_OK = 0, S_IOERR = 1, S_UNSUPP = 2;
    /** What the status byte holds before the device writes it: "not written". */
    public static final int STATUS_UNWRITTEN = 0xff;
    public static final int HEADER_BYTES = 16, SEGMENT_BYTES = 16;

    private final int type;
    private final long sector;
    private final List<GuestBuffer> data;
    private final boolean dataWritable;
    private boolean indirect;
    private Object attachment;

    public BlkCommand(int type, long sector, List<GuestBuffer> data, boolean dataWritable) {
        this.type = type;
        this.sector = sector;
        this.data = List.copyOf(data);
        this.dataWritable = dataWritable;
    }

    public static BlkCommand read(long sector, GuestBuffer... data) {
        return new BlkCommand(IN, sector, List.of(data), true);
    }

    public static BlkCommand write(long sector, GuestBuffer... data) {
        return new BlkCommand(OUT, sector, List.of(data), false);
    }

    public static BlkCommand flush() {
        return new BlkCommand(FLUSH, 0, List.of(), false);
    }

    public static BlkCommand getId(GuestBuffer id) {
        return new BlkCommand(GET_ID, 0, List.of(id), true);
    }

    /** DISCARD or WRITE_ZEROES with the segments already written into {@code segments}. */
    public static BlkCommand zeroing(int type, GuestBuffer segments) {
        return new BlkCommand(type, 0, List.of(segments), false);
    }

    /** Any type code (e.g. unknown ones) with the given buffers. */
    public static BlkCommand ofType(int type, long sector, boolean dataWritable, GuestBuffer... data) {
        return new BlkCommand(type, sector, List.of(data), dataWritable);
    }

    /** Puts the whole chain in an indirect table (VIRTIO_RING_F_INDIRECT_DESC). */
    public BlkCommand indirect(boolean on) {
        this.indirect = on;
        return this;
    }

    public boolean indirect() { return indirect; }

    public int type() { return type; }

    public long sector() { return sector; }

    public List<GuestBuffer> data() { return data; }

    public boolean dataWritable() { return dataWritable; }

    public int dataBytes() {
        return data.stream().mapToInt(GuestBuffer::length).sum();
    }

    /** Caller's context, e.g. the submit time in a benchmark. */
    public Object attachment() { return attachment; }

    public BlkCommand attach(Object o) {
        this.attachment = o;
        return this;
    }
}
