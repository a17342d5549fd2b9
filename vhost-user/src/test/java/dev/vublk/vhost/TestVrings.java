package dev.vublk.vhost;

import dev.vublk.uring.EventFd;
import dev.vublk.virtqueue.testing.DriverQueue;
import dev.vublk.virtqueue.testing.MockGuestMemory;

/** Rings configured as a front-end's SET_VRING_* messages would, for device tests without a connection. */
public final class TestVrings {
    private TestVrings() {}

    /**
     * A ready ring over {@code driver}'s layout in a {@link MockGuestMemory} (whose front-end
     * virtual addresses are {@link MockGuestMemory#USER_BASE} plus the guest address). The ring
     * owns {@code kick}, {@code callFd} and {@code errFd} from now on; {@link #release} closes them.
     */
    public static Vring configured(int index, DriverQueue driver, EventFd kick, int callFd, int errFd) {
        Vring v = new Vring(index);
        v.size(driver.size());
        long base = MockGuestMemory.USER_BASE;
        v.address(new VringAddress(index, 0, base + driver.descGpa(), base + driver.usedGpa(), base + driver.availGpa(), 0));
        v.eventIdx(driver.eventIdx());
        v.kick(kick);
        v.callFd(callFd);
        v.errFd(errFd);
        v.enabled(true);
        return v;
    }

    /** Closes the ring's descriptors, as a disconnect does. */
    public static void release(Vring v) {
        v.reset();
    }
}
