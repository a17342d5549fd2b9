package dev.vublk.block.vhdx;

/** One 4 KiB metadata sector to be written through the log to {@code fileOffset}. */
record SectorUpdate(long fileOffset, byte[] data) {
    SectorUpdate {
        if (data.length != Layout.LOG_SECTOR || fileOffset % Layout.LOG_SECTOR != 0) {
            throw new IllegalArgumentException("log updates are whole, aligned 4 KiB sectors");
        }
    }
}
