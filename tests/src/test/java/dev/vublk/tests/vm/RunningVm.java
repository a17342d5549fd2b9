package dev.vublk.tests.vm;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A booted test VM: QEMU's console is read on a daemon thread into a {@link SerialLog};
 * {@link #await()} waits for the guest's verdict and QEMU's exit within the spec's timeout.
 */
public final class RunningVm implements AutoCloseable {

    /** After the END marker, poweroff should end QEMU within moments. */
    private static final Duration EXIT_GRACE = Duration.ofSeconds(15);
    private static final int TAIL = 40;

    private final VmSpec spec;
    private final List<String> command;
    private final Process qemu;
    private final SerialLog serial;
    private final Thread reader;
    private final long startNanos;

    private RunningVm(VmSpec spec, List<String> command, Process qemu, long startNanos) {
        this.spec = spec;
        this.command = command;
        this.qemu = qemu;
        this.startNanos = startNanos;
        this.serial = new SerialLog(spec.test());
        this.reader = Thread.ofPlatform().daemon().name("vm-serial-" + spec.test()).start(this::pump);
    }

    static RunningVm start(VmSpec spec, List<String> command) {
        try {
            long start = System.nanoTime();
            Process p = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .start();
            return new RunningVm(spec, command, p, start);
        } catch (IOException e) {
            throw new VmException("cannot start " + command, e);
        }
    }

    private void pump() {
        try (BufferedReader r = new BufferedReader(
                new InputStreamReader(qemu.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                serial.accept(line);
            }
        } catch (IOException e) {
            serial.accept("[vm-runner: console read failed: " + e + "]");
        }
    }

    public SerialLog serial() {
        return serial;
    }

    public long pid() {
        return qemu.pid();
    }

    public boolean isAlive() {
        return qemu.isAlive();
    }

    /**
     * Waits for the guest's verdict. Returns the result for PASS and FAIL alike; throws
     * {@link VmException} with the console's last lines when there is no verdict (timeout,
     * QEMU error, guest crash).
     */
    public GuestResult await() {
        long deadline = startNanos + spec.timeout().toNanos();
        try {
            while (qemu.isAlive() && serial.status().isEmpty() && System.nanoTime() < deadline) {
                qemu.waitFor(100, TimeUnit.MILLISECONDS);
            }
            if (serial.status().isPresent() && qemu.isAlive()) {
                qemu.waitFor(EXIT_GRACE.toMillis(), TimeUnit.MILLISECONDS);
            }
            boolean timedOut = qemu.isAlive();
            if (timedOut) {
                close();
            }
            Duration elapsed = Duration.ofNanos(System.nanoTime() - startNanos);
            reader.join(2000);
            if (serial.status().isEmpty()) {
                String why = timedOut
                        ? "no verdict within " + spec.timeout()
                        : "QEMU exited with status " + qemu.exitValue() + " without a verdict";
                throw new VmException("guest test " + spec.test() + ": " + why + "\ncommand: "
                        + String.join(" ", command) + "\nlast console lines:\n" + serial.tailText(TAIL));
            }
            return new GuestResult(spec.test(), serial.status().get(), serial.results(), serial.lines(), elapsed);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close();
            throw new VmException("interrupted while waiting for the guest", e);
        }
    }

    /** Kills QEMU if it still runs. */
    @Override
    public void close() {
        if (qemu.isAlive()) {
            qemu.destroyForcibly();
            try {
                qemu.waitFor(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
