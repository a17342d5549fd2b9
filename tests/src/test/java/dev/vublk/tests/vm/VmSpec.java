package dev.vublk.tests.vm;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * What to boot: the guest test, the device's queue count, guest CPUs and RAM, the limit on
 * boot + test, the test's parameters (passed on the kernel command line as
 * {@code vu_KEY=VALUE}, read by scripts/guestkit/tests.sh) and other kernel parameters.
 */
public record VmSpec(String test, int queues, int cpus, int memoryMiB, Duration timeout,
                     boolean reconnect, Map<String, String> guestArgs, List<String> extraQemuArgs,
                     List<String> kernelArgs) {

    private static final Pattern WORD = Pattern.compile("[A-Za-z0-9_.,:/+-]+");
    private static final Pattern KERNEL_PARAM = Pattern.compile("[A-Za-z0-9_.-]+(=[A-Za-z0-9_.,:/+-]+)?");

    public VmSpec {
        requireWord("test", test);
        if (queues < 1 || queues > 64) throw new IllegalArgumentException("queues " + queues);
        if (cpus < 1 || cpus > 64) throw new IllegalArgumentException("cpus " + cpus);
        if (memoryMiB < 128) throw new IllegalArgumentException("memoryMiB " + memoryMiB);
        if (timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("timeout " + timeout);
        guestArgs.forEach((k, v) -> {
            requireWord("guest argument name", k);
            requireWord("guest argument value", v);
        });
        guestArgs = Map.copyOf(guestArgs);
        extraQemuArgs = List.copyOf(extraQemuArgs);
        kernelArgs.forEach(a -> {
            if (a == null || !KERNEL_PARAM.matcher(a).matches()) {
                throw new IllegalArgumentException("kernel parameter must be NAME or NAME=WORD: " + a);
            }
        });
        kernelArgs = List.copyOf(kernelArgs);
    }

    /** One queue, one CPU, 512 MiB, three minutes. */
    public static VmSpec of(String test) {
        return new VmSpec(test, 1, 1, 512, Duration.ofMinutes(3), false, Map.of(), List.of(), List.of());
    }

    /** Sets the queue count and as many guest CPUs, so that blk-mq spreads I/O over every queue. */
    public VmSpec withQueues(int n) {
        return new VmSpec(test, n, n, memoryMiB, timeout, reconnect, guestArgs, extraQemuArgs, kernelArgs);
    }

    public VmSpec withCpus(int n) {
        return new VmSpec(test, queues, n, memoryMiB, timeout, reconnect, guestArgs, extraQemuArgs, kernelArgs);
    }

    public VmSpec withMemoryMiB(int mib) {
        return new VmSpec(test, queues, cpus, mib, timeout, reconnect, guestArgs, extraQemuArgs, kernelArgs);
    }

    public VmSpec withTimeout(Duration t) {
        return new VmSpec(test, queues, cpus, memoryMiB, t, reconnect, guestArgs, extraQemuArgs, kernelArgs);
    }

    /** QEMU reconnects to a restarted backend ({@code reconnect=1} on the chardev). */
    public VmSpec withReconnect(boolean on) {
        return new VmSpec(test, queues, cpus, memoryMiB, timeout, on, guestArgs, extraQemuArgs, kernelArgs);
    }

    /** A guest test parameter, e.g. {@code withArg("mib", "16")} gives {@code vu_mib=16}. */
    public VmSpec withArg(String key, String value) {
        Map<String, String> args = new LinkedHashMap<>(guestArgs);
        args.put(key, value);
        return new VmSpec(test, queues, cpus, memoryMiB, timeout, reconnect, args, extraQemuArgs, kernelArgs);
    }

    public VmSpec withQemuArgs(String... args) {
        return new VmSpec(test, queues, cpus, memoryMiB, timeout, reconnect, guestArgs,
                List.of(args), kernelArgs);
    }

    /** Kernel parameters besides the test's, e.g. {@code init_on_alloc=0}. */
    public VmSpec withKernelArgs(String... args) {
        return new VmSpec(test, queues, cpus, memoryMiB, timeout, reconnect, guestArgs, extraQemuArgs,
                List.of(args));
    }

    private static void requireWord(String what, String s) {
        if (s == null || !WORD.matcher(s).matches()) {
            throw new IllegalArgumentException(what + " must be a plain word: " + s);
        }
    }
}
