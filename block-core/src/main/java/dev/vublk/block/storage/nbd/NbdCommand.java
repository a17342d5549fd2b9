package dev.vublk.block.storage.nbd;

import dev.vublk.uring.IoVecArray;
import java.lang.foreign.Arena;

/**
 * One NBD request: a part of an {@link NbdOp} small enough for the server. Its handle on the wire
 * is its index in the queue's command table, so a reply finds it without a map; a command is
 * {@link #SENT} (handed to the connection, awaiting its reply) or {@link #WAITING} (for a
 * connection) while in use.
 */
final class NbdCommand {
    static final int FREE = 0, WAITING = 1, SENT = 2;

    final int handle;
    private final Arena arena;
    int state = FREE;
    NbdOp op;
    short type;
    short flags;
    long offset;
    int length;
    /** The guest memory of a READ or WRITE: a copy of the caller's entries, never given to the kernel. */
    IoVecArray data;
    /**
     * When the command first had to wait for a connection (System.nanoTime()), kept when it goes
     * out again: a command that keeps breaking connections still gives up after the delay.
     */
    long waitingSince;
    boolean waited;
    // Receive side: bytes of a READ that chunks have delivered, the first error chunk's errno.
    long covered;
    int error;
    // A reply that came before the connection saw its own send complete waits for it.
    boolean sending;
    boolean replied;
    int result;

    NbdCommand(int handle, Arena arena) {
        this.handle = handle;
        this.arena = arena;
    }

    void set(NbdOp op, short type, short flags, long offset, int length) {
        this.op = op;
        this.type = type;
        this.flags = flags;
        this.offset = offset;
        this.length = length;
        this.waited = false;
        this.covered = 0;
        this.error = 0;
        this.sending = false;
        this.replied = false;
        if (data != null) {
            data.clear();
        }
    }

    /** This command's data array, grown (in the queue's arena) to hold {@code entries}. */
    IoVecArray data(int entries) {
        if (data == null || data.capacity() < entries) {
            int capacity = Math.min(IoVecArray.IOV_MAX, Math.max(8, Integer.highestOneBit(Math.max(1, entries - 1)) << 1));
            data = new IoVecArray(arena, capacity);
        }
        data.clear();
        return data;
    }

    /** Forgets a sent attempt: the command goes out again, whole, on the next connection. */
    void resetReply() {
        covered = 0;
        error = 0;
        sending = false;
        replied = false;
    }
}
