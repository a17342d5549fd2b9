package dev.vublk.block.storage.nbd;

import dev.vublk.block.ImageException;
import dev.vublk.block.storage.StorageQueue;
import dev.vublk.block.storage.Volume;
import dev.vublk.uring.IoUring;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * An NBD export as a {@link Volume}: each queue gets its own connection on its own ring
 * ({@link NbdQueue}); the volume keeps a blocking control connection for {@link #flush()} at
 * shutdown, which also proves at open that the server is there. Sizes cannot change: NBD has
 * resizing only as an experimental extension.
 *
 * <p>FUA: {@link dev.vublk.block.storage.Storage} has no notion of it, so writes are never sent
 * with NBD_CMD_FLAG_FUA; the guest's flushes become NBD flushes.
 */
public final class NbdVolume implements Volume {
    /** The blocking steps at open (connect, each handshake read and write) give up after this. */
    static final Duration OPEN_TIMEOUT = Duration.ofSeconds(10);

    private final NbdUri uri;
    private final NbdControl control;
    private final NbdExport export;
    private final boolean writable;
    private final Duration reconnectDelay;
    private final List<NbdQueue> queues = new CopyOnWriteArrayList<>();

    private NbdVolume(NbdUri uri, NbdControl control, boolean readOnly, Duration reconnectDelay) {
        this.uri = uri;
        this.control = control;
        this.export = control.export();
        this.writable = !readOnly && !export.readOnly();
        this.reconnectDelay = reconnectDelay;
    }

    /**
     * Connects to the export at {@code uri} (see {@link NbdUri}).
     *
     * @param readOnly refuse writes even if the export takes them
     * @param reconnectDelay how long requests wait for a lost connection to come back before they fail with EIO
     */
    public static NbdVolume open(String uri, boolean readOnly, Duration reconnectDelay) throws IOException {
        if (reconnectDelay.isNegative()) {
            throw new IllegalArgumentException("negative reconnect delay " + reconnectDelay);
        }
        NbdUri parsed = NbdUri.parse(uri);
        return new NbdVolume(parsed, new NbdControl(parsed, OPEN_TIMEOUT), readOnly, reconnectDelay);
    }

    NbdUri uri() { return uri; }

    NbdExport export() { return export; }

    Duration reconnectDelay() { return reconnectDelay; }

    /** The queues open now: a flush without CAN_MULTI_CONN goes to each. */
    List<NbdQueue> queues() { return queues; }

    void closed(NbdQueue q) {
        queues.remove(q);
    }

    /**
     * Why a reconnected export is not the one opened (size or writability changed), or null:
     * data written before must not go to another disk.
     */
    String sameExport(NbdExport now) {
        if (now.size() != export.size()) {
            return "the export's size changed from " + export.size() + " to " + now.size() + " bytes";
        }
        if (writable && now.readOnly()) {
            return "the export became read-only";
        }
        if (now.minBlock() > export.minBlock() || now.maxPayload() < export.maxPayload()) {
            return "the export's block sizes changed to " + now.minBlock() + "/" + now.maxBlock();
        }
        return null;
    }

    @Override
    public String name() {
        return "nbd " + uri.describe();
    }

    @Override
    public boolean writable() {
        return writable;
    }

    @Override
    public int alignment() {
        return Math.max(1, export.minBlock());
    }

    @Override
    public long size() {
        return export.size();
    }

    @Override
    public StorageQueue queue(IoUring ring) throws IOException {
        NbdQueue q = new NbdQueue(this, ring);
        queues.add(q);
        return q;
    }

    /** Without CAN_MULTI_CONN this covers the control connection only; queues flush their own as they stop. */
    @Override
    public void flush() throws IOException {
        if (writable && export.sendsFlush()) {
            control.flush();
        }
    }

    @Override
    public void resize(long newSize) throws IOException {
        throw new ImageException(uri.text(), "an NBD export cannot be resized");
    }

    @Override
    public void close() {
        control.close();
    }

    /** What the server said about the export, for logs. */
    public String describe() {
        return name() + ": " + export.describe();
    }
}
