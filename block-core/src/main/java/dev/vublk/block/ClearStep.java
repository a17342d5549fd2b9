package dev.vublk.block;

import dev.vublk.block.storage.Storage;

/**
 * What one piece of a discard or write-zeroes does, as {@link Mapping#planClear} decides: a
 * reused holder. The piece covers guest bytes from the planned position to {@link #end}.
 */
public final class ClearStep {
    /** Nothing left to do: the metadata already says it, or the range may stay as it is. */
    public static final int DONE = 0;
    /** Make {@code [host, host + length)} of {@link #storage} read as zeros, then {@link Mapping#written}. */
    public static final int ZERO_STORAGE = 1;
    /** Only written zeros can do it: write zeros through the write path. */
    public static final int WRITE_ZEROS = 2;
    /** Another queue's work ({@link #pending}) covers this piece: plan it again once that is done. */
    public static final int WAIT = 3;
    /** Write the format's dirty metadata back first, then plan again; covers nothing. */
    public static final int WRITE_BACK = 4;
    /** Read metadata first, as {@link WriteStep#FETCH}; covers nothing. */
    public static final int FETCH = 5;

    public int kind;
    public long end;
    public Storage storage;
    public long host;
    /** For ZERO_STORAGE: the space may be released. */
    public boolean release;
    /** For ZERO_STORAGE: handed to {@link Mapping#written} once zeroed; -1 for nothing. */
    public long token;
    public Pending pending;
    public int fetchLength;
    /** As {@link WriteStep#metadataDone}. */
    public boolean metadataDone;

    public void done(long end) {
        set(DONE, end);
    }

    public void writeZeros(long end) {
        set(WRITE_ZEROS, end);
    }

    public void writeBackFirst(long pos) {
        set(WRITE_BACK, pos);
    }

    public void fetch(long pos, Storage storage, long host, int length, long token) {
        set(FETCH, pos);
        this.storage = storage;
        this.host = host;
        this.fetchLength = length;
        this.token = token;
    }

    public void waitFor(long end, Pending p) {
        set(WAIT, end);
        this.pending = p;
    }

    public void zeroStorage(long end, Storage storage, long host, boolean release, long token) {
        set(ZERO_STORAGE, end);
        this.storage = storage;
        this.host = host;
        this.release = release;
        this.token = token;
    }

    private void set(int kind, long end) {
        this.kind = kind;
        this.end = end;
        this.storage = null;
        this.host = 0;
        this.release = false;
        this.token = -1;
        this.pending = null;
    }
}
