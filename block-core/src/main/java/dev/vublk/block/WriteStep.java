package dev.vublk.block;

import dev.vublk.block.storage.Storage;

/**
 * What one piece of a write does, as {@link Mapping#planWrite} decides: a reused holder, so that
 * planning allocates nothing. The piece covers guest bytes from the planned position to {@link #end}.
 */
public final class WriteStep {
    /** Write the guest data at {@link #host} in {@link #storage}. */
    public static final int IN_PLACE = 0;
    /** Fill {@link #allocation} (guest data plus old data around it), then commit it. */
    public static final int ALLOCATE = 1;
    /** Another queue's work ({@link #pending}) covers this piece: plan it again once that is done. */
    public static final int WAIT = 2;
    /** Write the format's dirty metadata back first ({@link Mapping#beginWriteBack}), then plan again; covers nothing. */
    public static final int WRITE_BACK = 3;
    /**
     * Read {@link #fetchLength} bytes of metadata at {@link #host} in {@link #storage} on the
     * ring, hand them to {@link Mapping#fetched} with {@link #token}, then plan again; covers nothing.
     */
    public static final int FETCH = 4;
    /**
     * Write {@link #writes} (metadata the format needs before this piece, e.g. a block's space
     * through a log) on the ring, report through {@link Mapping#writtenBack}, then plan again;
     * covers nothing.
     */
    public static final int METADATA = 5;

    public int kind;
    public long end;
    public Storage storage;
    public long host;
    /** For IN_PLACE: handed back to {@link Mapping#written} when the data is down; -1 for nothing. */
    public long token;
    /** For IN_PLACE: copy the data first and let {@link Mapping#admits} check it. */
    public boolean inspect;
    public Allocation allocation;
    public Pending pending;
    public MetadataWrites writes;
    public int fetchLength;
    /**
     * Set by the engine, on entry, when the metadata I/O a step asked for (a write-back, a fetch)
     * has just finished: the format must then plan real work, loading synchronously if it must,
     * rather than ask again (which might make no progress).
     */
    public boolean metadataDone;

    public void inPlace(long end, Storage storage, long host, long token) {
        set(IN_PLACE, end, storage, host, null);
        this.token = token;
    }

    public void allocate(long end, Storage storage, Allocation a) {
        set(ALLOCATE, end, storage, a.hostStart(), a);
    }

    public void waitFor(long end, Pending p) {
        set(WAIT, end, null, 0, null);
        this.pending = p;
    }

    public void metadata(long pos, MetadataWrites w) {
        set(METADATA, pos, null, 0, null);
        this.writes = w;
    }

    public void writeBackFirst(long pos) {
        set(WRITE_BACK, pos, null, 0, null);
    }

    public void fetch(long pos, Storage storage, long host, int length, long token) {
        set(FETCH, pos, storage, host, null);
        this.fetchLength = length;
        this.token = token;
    }

    private void set(int kind, long end, Storage storage, long host, Allocation a) {
        this.kind = kind;
        this.end = end;
        this.storage = storage;
        this.host = host;
        this.allocation = a;
        this.pending = null;
        this.writes = null;
        this.token = -1;
        this.inspect = false;
    }
}
