package dev.vublk.tests.frontend;

import dev.vublk.uring.EventFd;
import dev.vublk.uring.NativeException;
import dev.vublk.vhost.VringAddress;
import dev.vublk.virtqueue.testing.DriverQueue;
import dev.vublk.virtqueue.testing.UsedElement;
import java.time.Duration;

/**
 * One virtqueue as the guest driver runs it over shared memory: the rings (a {@link DriverQueue}
 * placed in guest RAM), the kick eventfd the driver writes and the call eventfd it waits on.
 * Driven by one thread at a time.
 */
public final class VirtqueueDriver implements AutoCloseable {
    private final int index;
    private final GuestRam ram;
    private final GuestBuffer ringArea;
    private final DriverQueue ring;
    private final EventFd kick;
    private final EventFd call;
    private final CallWaiter waiter;
    private long kicks;

    private VirtqueueDriver(int index, GuestRam ram, GuestBuffer ringArea, DriverQueue ring, EventFd kick, EventFd call)
            throws NativeException {
        this.index = index;
        this.ram = ram;
        this.ringArea = ringArea;
        this.ring = ring;
        this.kick = kick;
        this.call = call;
        this.waiter = new CallWaiter(call);
    }

    /** Lays out a queue of {@code size} entries in region {@code regionIndex} of {@code ram}. */
    public static VirtqueueDriver create(GuestRam ram, int regionIndex, int index, int size, boolean eventIdx)
            throws NativeException {
        GuestBuffer area = ram.allocate(regionIndex, (int) DriverQueue.footprint(size, eventIdx), 4096);
        DriverQueue ring = DriverQueue.createAt(ram.memory(), size, area.gpa(), eventIdx);
        EventFd kick = EventFd.create();
        EventFd call;
        try {
            call = EventFd.create();
        } catch (NativeException e) {
            kick.close();
            throw e;
        }
        try {
            return new VirtqueueDriver(index, ram, area, ring, kick, call);
        } catch (NativeException e) {
            kick.close();
            call.close();
            throw e;
        }
    }

    public int index() { return index; }

    public int size() { return ring.size(); }

    /** The driver-side rings, for building chains (raw ones too). */
    public DriverQueue ring() { return ring; }

    public int kickFd() { return kick.fd(); }

    public int callFd() { return call.fd(); }

    /** SET_VRING_ADDR payload: the rings' frontend-virtual addresses. */
    public VringAddress address() {
        return address(false);
    }

    /** With {@code logUsed}, asks the backend to log used-ring writes at the used ring's GPA (VHOST_VRING_F_LOG). */
    public VringAddress address(boolean logUsed) {
        return new VringAddress(index, logUsed ? VringAddress.F_LOG : 0, ram.userAddress(ring.descGpa()),
                ram.userAddress(ring.usedGpa()), ram.userAddress(ring.availGpa()), logUsed ? ring.usedGpa() : 0);
    }

    /** Guest-physical bytes of the used ring: what the backend writes besides the buffers. */
    public long usedRingGpa() { return ring.usedGpa(); }

    public long usedRingBytes() {
        return dev.vublk.virtqueue.RingLayout.usedRingBytes(ring.size(), ring.eventIdx());
    }

    /** Kicks if the backend asked for it (EVENT_IDX or NO_NOTIFY); returns whether it kicked. */
    public boolean kickIfNeeded() {
        if (ring.kickNeeded()) {
            kick();
            return true;
        }
        return false;
    }

    /** Kicks unconditionally. */
    public void kick() {
        try {
            kick.write(1);
            kicks++;
        } catch (NativeException e) {
            throw new VhostUserException("kick of queue " + index + ": " + e.getMessage(), e);
        }
    }

    public long kicks() { return kicks; }

    /** The next used element or null, without waiting. */
    public UsedElement poll() {
        return ring.pollUsed();
    }

    /**
     * Waits for the next used element: re-enables interrupts and sleeps on the call eventfd
     * until the backend signals; throws when nothing arrives within {@code timeout}.
     */
    public UsedElement await(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            UsedElement e = ring.pollUsed();
            if (e != null) {
                return e;
            }
            if (ring.enableInterrupts()) {
                continue;
            }
            if (System.nanoTime() - deadline > 0) {
                throw new VhostUserException("queue " + index + ": no used buffer within " + timeout);
            }
            try {
                waiter.await();
            } catch (NativeException ex) {
                throw new VhostUserException("waiting on the call eventfd of queue " + index + ": " + ex.getMessage(), ex);
            }
        }
    }

    /**
     * Asserts quiet: no used element arrives within {@code window} (e.g. for a request the
     * backend must not complete). Returns the element if one does arrive.
     */
    public UsedElement pollFor(Duration window) {
        try {
            return await(window);
        } catch (VhostUserException e) {
            return null;
        }
    }

    @Override
    public void close() {
        waiter.close();
        kick.close();
        ram.free(ringArea);
    }
}
