/**
 * Test support shipped in main sources so other modules' tests can use it:
 * {@link dev.vublk.virtqueue.testing.DriverQueue} plays the guest driver on a split virtqueue,
 * {@link dev.vublk.virtqueue.testing.MockGuestMemory} builds guest memory from Arena allocations.
 * Not for production code paths.
 */
package dev.vublk.virtqueue.testing;
