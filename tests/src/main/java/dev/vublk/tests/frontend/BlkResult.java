package dev.vublk.tests.frontend;

/** Outcome of a synchronous request: status, used length, and the bytes the device wrote (reads, GET_ID). */
public record BlkResult(int status, long usedLength, byte[] data) {
    public boolean ok() {
        return status == BlkCommand.S_OK;
    }
}
