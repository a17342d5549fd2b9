package dev.vublk.tests.frontend;

/** A request the device returned: its status byte (or {@link BlkCommand#STATUS_UNWRITTEN}) and the used length. */
public record BlkCompletion(BlkCommand command, int status, long usedLength, long statusGpa) {
    public boolean ok() {
        return status == BlkCommand.S_OK;
    }
}
