package dev.vublk.block.vhdx;

import java.util.UUID;

/** One metadata item's place in the metadata region (offset relative to the region start). */
record MetadataTableEntry(UUID itemId, long offset, long length, boolean isUser, boolean isVirtualDisk, boolean isRequired) {
    static final int SIZE = 32;
}
