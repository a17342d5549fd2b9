package dev.vublk.vhost.blk;

/** virtio-blk request types and status values (virtio 1.2, 5.2.6). */
final class BlkRequestType {
    static final int IN = 0, OUT = 1, FLUSH = 4, GET_ID = 8, GET_LIFETIME = 10, DISCARD = 11, WRITE_ZEROES = 13,
            SECURE_ERASE = 14;
    static final byte S_OK = 0, S_IOERR = 1, S_UNSUPP = 2;
    static final int HEADER_BYTES = 16;
    static final int SEGMENT_BYTES = 16;
    static final int WRITE_ZEROES_UNMAP = 1;

    private BlkRequestType() {}
}
