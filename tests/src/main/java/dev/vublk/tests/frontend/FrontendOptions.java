package dev.vublk.tests.frontend;

import java.time.Duration;

/**
 * How a test frontend sets up the device.
 *
 * @param style          whose message order to replay
 * @param numQueues      queues started (at most what GET_QUEUE_NUM reports)
 * @param queueSize      entries per queue
 * @param eventIdx       negotiate VIRTIO_RING_F_EVENT_IDX (if offered)
 * @param regionSizes    guest RAM regions, GPA-adjacent from 0; rings and buffers go in region 0
 * @param memSlots       with QEMU style: use ADD_MEM_REG if CONFIGURE_MEM_SLOTS is offered
 * @param timeout        bound on every wait for the backend
 * @param inflight       negotiate INFLIGHT_SHMFD
 * @param dirtyLog       negotiate LOG_SHMFD (migration's dirty-page log)
 */
public record FrontendOptions(FrontendStyle style, int numQueues, int queueSize, boolean eventIdx,
                              long[] regionSizes, boolean memSlots, Duration timeout, boolean inflight,
                              boolean dirtyLog) {
    public static final long MiB = 1L << 20;

    public static FrontendOptions qemu(int numQueues) {
        return new FrontendOptions(FrontendStyle.QEMU, numQueues, 128, true, new long[] {64 * MiB}, true,
                Duration.ofSeconds(10), false, false);
    }

    public static FrontendOptions cloudHypervisor(int numQueues) {
        return new FrontendOptions(FrontendStyle.CLOUD_HYPERVISOR, numQueues, 128, true, new long[] {64 * MiB}, false,
                Duration.ofSeconds(10), false, false);
    }

    public FrontendOptions withQueueSize(int size) {
        return new FrontendOptions(style, numQueues, size, eventIdx, regionSizes, memSlots, timeout, inflight, dirtyLog);
    }

    public FrontendOptions withEventIdx(boolean on) {
        return new FrontendOptions(style, numQueues, queueSize, on, regionSizes, memSlots, timeout, inflight, dirtyLog);
    }

    public FrontendOptions withRegions(long... sizes) {
        return new FrontendOptions(style, numQueues, queueSize, eventIdx, sizes, memSlots, timeout, inflight, dirtyLog);
    }

    public FrontendOptions withMemSlots(boolean on) {
        return new FrontendOptions(style, numQueues, queueSize, eventIdx, regionSizes, on, timeout, inflight, dirtyLog);
    }

    /** Negotiate INFLIGHT_SHMFD: GET_INFLIGHT_FD once, SET_INFLIGHT_FD on every start (QEMU's order). */
    public FrontendOptions withInflight(boolean on) {
        return new FrontendOptions(style, numQueues, queueSize, eventIdx, regionSizes, memSlots, timeout, on, dirtyLog);
    }

    /** Negotiate LOG_SHMFD, so {@link VhostUserBlkFrontend#setDirtyLog()} can be used. */
    public FrontendOptions withDirtyLog(boolean on) {
        return new FrontendOptions(style, numQueues, queueSize, eventIdx, regionSizes, memSlots, timeout, inflight, on);
    }

    public FrontendOptions withTimeout(Duration t) {
        return new FrontendOptions(style, numQueues, queueSize, eventIdx, regionSizes, memSlots, t, inflight, dirtyLog);
    }
}
