package dev.vublk.block.vhdx;

import java.util.UUID;

/** One region: a GUID-named, MiB-aligned range of the file (the BAT, the metadata region). */
record RegionTableEntry(UUID guid, long fileOffset, long length, boolean required) {
    static final int SIZE = 32;

    long end() {
        return fileOffset + length;
    }
}
