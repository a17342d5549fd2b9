package dev.vublk.block.storage.nbd;

/**
 * What a server said about its export in the handshake, checked: size, transmission flags, block
 * size constraints (min and preferred powers of two, min ≤ preferred ≤ max), and whether replies
 * are structured.
 */
record NbdExport(long size, int flags, int minBlock, int preferredBlock, int maxBlock, boolean structured) {
    /** The payload limit when the server names none (the spec's default is 32 MiB). */
    static final int DEFAULT_MAX_BLOCK = 32 << 20;

    boolean readOnly() { return has(NbdWire.FLAG_READ_ONLY); }

    boolean sendsFlush() { return has(NbdWire.FLAG_SEND_FLUSH); }

    boolean sendsWriteZeroes() { return has(NbdWire.FLAG_SEND_WRITE_ZEROES); }

    boolean multiConn() { return has(NbdWire.FLAG_CAN_MULTI_CONN); }

    private boolean has(int flag) {
        return (flags & flag) != 0;
    }

    /** The most bytes one READ or WRITE carries: the server's maximum, a whole number of its minimum. */
    int maxPayload() {
        int max = Math.min(maxBlock, DEFAULT_MAX_BLOCK);
        return max - max % minBlock;
    }

    String describe() {
        return size + " bytes, flags 0x" + Integer.toHexString(flags) + ", block sizes " + minBlock + "/" + preferredBlock
                + "/" + maxBlock + (structured ? ", structured replies" : ", simple replies");
    }
}
