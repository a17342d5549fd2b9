package dev.vublk.virtqueue.testing;

/** One used ring element as the driver reads it: head id and bytes written by the device. */
public record UsedElement(int id, long length) {
}
