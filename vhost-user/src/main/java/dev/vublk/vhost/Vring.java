package dev.vublk.vhost;

import dev.vublk.uring.EventFd;
import dev.vublk.uring.Fds;

/** The front-end's configuration of one virtqueue, as SET_VRING_* messages built it. */
public final class Vring {
    private final int index;
    private int size;
    private VringAddress address;
    private int base;
    private EventFd kick;
    private volatile int callFd = -1;
    private int errFd = -1;
    private boolean enabled;
    private boolean running;
    private boolean eventIdx;
    private InflightQueue inflight;

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
        Fds.closeQuietly(errFd);
        errFd = fd;
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
    }
}
