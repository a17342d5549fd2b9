package dev.vublk.block;

/** What {@link Mapping#beginWriteBack} answers: a reused holder. */
public final class WriteBackStep {
    /** Nothing is dirty. */
    public static final int DONE = 0;
    /** Write {@link #writes}, then report through {@link Mapping#writtenBack}. */
    public static final int RUN = 1;
    /** Another queue's write-back is running: wait for {@link #pending}, then begin again. */
    public static final int WAIT = 2;

    public int kind;
    public MetadataWrites writes;
    public Pending pending;

    public void done() {
        set(DONE, null, null);
    }

    public void run(MetadataWrites w) {
        set(RUN, w, null);
    }

    public void waitFor(Pending p) {
        set(WAIT, null, p);
    }

    private void set(int kind, MetadataWrites w, Pending p) {
        this.kind = kind;
        this.writes = w;
        this.pending = p;
    }
}
