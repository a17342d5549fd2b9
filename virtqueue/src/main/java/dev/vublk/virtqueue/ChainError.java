package dev.vublk.virtqueue;

/** Why a descriptor chain was rejected. The request is failed; the queue keeps working. */
public enum ChainError {
    NEXT_OUT_OF_RANGE("a descriptor's next index is outside its table"),
    LOOP("the chain visits more descriptors than its table holds (a loop)"),
    TOO_LONG("the chain has more buffers than the queue allows"),
    NESTED_INDIRECT("an indirect table contains an indirect descriptor"),
    INDIRECT_WITH_NEXT("an indirect descriptor also has the NEXT flag"),
    INDIRECT_BAD_LENGTH("an indirect table's length is zero or not a multiple of 16"),
    INDIRECT_TOO_LARGE("an indirect table has more entries than the queue allows"),
    INDIRECT_NOT_IN_MEMORY("an indirect table lies outside guest memory"),
    BUFFER_NOT_IN_MEMORY("a buffer lies outside guest memory"),
    READABLE_AFTER_WRITABLE("a device-readable buffer follows a device-writable one");

    private final String description;

    ChainError(String description) {
        this.description = description;
    }

    public String description() {
        return description;
    }
}
