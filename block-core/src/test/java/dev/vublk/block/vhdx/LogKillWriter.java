package dev.vublk.block.vhdx;

import dev.vublk.block.ImageOptions;
import dev.vublk.block.WorkerDriver;
import dev.vublk.uring.Fds;

/**
 * Child process of {@link KilledLogReplayTest}: starts one metadata change and SIGKILLs itself
 * the moment its log entry is durable, before a single sector of it is applied: a real crash at
 * the one point that leaves a log to replay.
 */
public final class LogKillWriter {
    static final int KILLED = 128 + 9;

    public static void main(String[] args) throws Exception {
        String scenario = args[1];
        try (VhdxImage image = VhdxImage.open(java.nio.file.Path.of(args[0]), ImageOptions.defaults());
             WorkerDriver h = new WorkerDriver(image)) {
            // The log starts here, with the kill as its crash point: later writes reuse this log.
            image.metadata().beginWrites(() -> {
                try {
                    Fds.kill((int) ProcessHandle.current().pid(), 9);
                    Thread.sleep(60_000);
                } catch (Exception e) {
                    Runtime.getRuntime().halt(3);
                }
            });
            switch (scenario) {
                case "allocate" -> h.write(KilledLogReplayTest.ALLOCATED_BLOCK << 20, TestImages.random(9, 64 << 10));
                case "zero-block" -> h.writeZeroes(KilledLogReplayTest.ZEROED_BLOCK << 20, 1 << 20, true);
                case "grow" -> image.resize(KilledLogReplayTest.GROWN);
                default -> throw new IllegalArgumentException(scenario);
            }
        }
        System.exit(4); // the change finished: the hook never fired
    }
}
