/**
 * Guest memory and split virtqueues, device side, for the vhost-user backend; no I/O here.
 *
 * <ul>
 * <li>{@link dev.vublk.virtqueue.GuestMemory} / {@link dev.vublk.virtqueue.GuestRegion}: immutable
 *     snapshots of the guest RAM layout; every guest address is resolved and bounds-checked here.</li>
 * <li>{@link dev.vublk.virtqueue.SplitQueue}: pops requests, walks descriptor chains (direct and
 *     indirect) into a reusable {@link dev.vublk.virtqueue.DescriptorChain}, returns used buffers
 *     and implements both directions of notification suppression (EVENT_IDX or flags). Its class
 *     comment explains the memory-ordering protocol with the driver: why each acquire, release
 *     and full fence is needed.</li>
 * <li>{@link dev.vublk.virtqueue.RingLayout} / {@link dev.vublk.virtqueue.RingAccess}: ring byte
 *     layout and little-endian ordered accessors, shared with the test driver.</li>
 * <li>{@code dev.vublk.virtqueue.testing}: a driver-side ring writer and mock guest memory for
 *     unit and end-to-end tests.</li>
 * </ul>
 */
package dev.vublk.virtqueue;
