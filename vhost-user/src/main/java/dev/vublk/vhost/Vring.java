package dev.vublk.vhost;

import dev.vublk.uring.EventFd;
import dev.vublk.uring.Fds;
import dev.vublk.uring.NativeException;

/** The front-end's configuration of one virtqueue, as SET_VRING_* messages built it. */
public final class Vring {
    private final int index;
    private int size;
    private VringAddress address;
    private int base;
    private EventFd kick;
    private volatile int callFd = -1;
    private volatile int errFd = -1;
    private boolean enabled;
    private boolean running;
    private boolean eventIdx;
    private InflightQueue inflight;
    private DirtyLog dirtyLog;
    private boolean logAll;

    Vring(int index) {
        this.index = index;
    }

    public int index() { return index; }

    public int size() { return size; }

    void size(int size) { this.size = size; }

    public VringAddress address() { return address; }

    void address(VringAddress address) { this.address = address; }

    /** last_avail_idx: where the device resumes reading the available ring. */
    public int base() { return base; }

    /** Set by the device when it stops the ring. */
    public void base(int base) { this.base = base & 0xffff; }

    public EventFd kick() { return kick; }

    void kick(EventFd kick) {
        if (this.kick != null) {
            this.kick.close();
        }
        this.kick = kick;
    }

    /** The eventfd to signal used buffers on, or -1 when the front-end polls. */
    public int callFd() { return callFd; }

    void callFd(int fd) {
        int old = callFd;
        callFd = fd;
        Fds.closeQuietly(old);
    }

    void errFd(int fd) {
        int old = errFd;
        errFd = fd;
        Fds.closeQuietly(old);
    }

    /**
     * Tells the front-end this ring failed (SET_VRING_ERR's eventfd); false when it gave none or
     * the write failed. Called by the queue thread, so the fd is read once.
     */
    public boolean signalError() {
        int fd = errFd;
        if (fd < 0) {
            return false;
        }
        try {
            EventFd.write(fd, 1);
            return true;
        } catch (NativeException e) {
            return false;
        }
    }

    public boolean enabled() { return enabled; }

    void enabled(boolean enabled) { this.enabled = enabled; }

    public boolean running() { return running; }

    void running(boolean running) { this.running = running; }

    public boolean eventIdx() { return eventIdx; }

    void eventIdx(boolean eventIdx) { this.eventIdx = eventIdx; }

    /** Where this ring records requests in flight, or null without INFLIGHT_SHMFD. */
    public InflightQueue inflight() { return inflight; }

    void inflight(InflightQueue inflight) { this.inflight = inflight; }

    /** The front-end's dirty log (SET_LOG_BASE), or null: used-ring writes go there when the address has F_LOG. */
    public DirtyLog dirtyLog() { return dirtyLog; }

    /** VHOST_F_LOG_ALL: every guest page the device writes goes to {@link #dirtyLog()}. */
    public boolean logAll() { return logAll && dirtyLog != null; }

    /** Where used-ring writes are logged: the log when the address asks for it (F_LOG), else null. */
    public DirtyLog usedRingLog() {
        return address != null && (address.flags() & VringAddress.F_LOG) != 0 ? dirtyLog : null;
    }

    void dirtyLog(DirtyLog log, boolean all) {
        this.dirtyLog = log;
        this.logAll = all;
    }

    /** Forgets everything: RESET_OWNER, RESET_DEVICE and disconnect. */
    void reset() {
        kick(null);
        callFd(-1);
        errFd(-1);
        size = 0;
        address = null;
        base = 0;
        enabled = false;
        running = false;
        inflight = null;
        dirtyLog = null;
        logAll = false;
    }
}
