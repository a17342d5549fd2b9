package dev.vublk.tests.vm;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Boots test guests on a vhost-user-blk disk.
 *
 * <pre>{@code
 * VmRunner vm = new VmRunner(GuestKit.get(), tempDir);
 * GuestResult r = vm.run(VmSpec.of("fio-verify").withQueues(2),
 *         List.of("qemu-storage-daemon", ..., "addr.path=" + BackendProcess.SOCKET_PLACEHOLDER, ...));
 * assertEquals("0", r.get("fio_rand_exit"));
 * }</pre>
 *
 * The backend command is a parameter, so the same runner drives qemu-storage-daemon and
 * the project's launcher.
 */
public final class VmRunner {

    private static final Duration BACKEND_READY = Duration.ofSeconds(30);
    private static final int TAIL = 40;

    private final GuestKit kit;
    private final Path workDir;
    private final long tscKhz = QemuCommand.hostTscKhz();

    public VmRunner(GuestKit kit, Path workDir) {
        this.kit = kit;
        this.workDir = workDir;
    }

    /** Where {@link #run} puts the backend's socket. */
    public Path socketPath() {
        return workDir.resolve("vhost.sock");
    }

    /**
     * Starts the backend, waits for its socket, boots the guest test, stops the backend.
     * Returns the result if the guest reported PASS; otherwise throws {@link VmException}
     * with the console's and the backend's last lines.
     */
    public GuestResult run(VmSpec spec, List<String> backendCommand) {
        try (BackendProcess backend = startBackend(backendCommand)) {
            GuestResult r = boot(spec, backend.socket());
            if (!r.passed()) {
                throw failure(r, backend.logTail(20));
            }
            if (!backend.isAlive()) {
                throw new VmException("backend died during " + spec.test() + "\n" + backend.logTail(20));
            }
            return r;
        }
    }

    /** Starts {@code command} (with {@value BackendProcess#SOCKET_PLACEHOLDER} = {@link #socketPath()}). */
    public BackendProcess startBackend(List<String> command) {
        return BackendProcess.start(command, socketPath(), workDir.resolve("backend.log"), BACKEND_READY);
    }

    /** Boots against a socket someone else serves and returns PASS and FAIL results alike. */
    public GuestResult boot(VmSpec spec, Path socket) {
        try (RunningVm vm = start(spec, socket)) {
            GuestResult r = vm.await();
            System.out.printf("vm: %s queues=%d cpus=%d %s in %.1f s%n", spec.test(), spec.queues(),
                    spec.cpus(), r.status(), r.elapsed().toMillis() / 1000.0);
            return r;
        }
    }

    /** Boots without waiting, e.g. to restart the backend while the guest runs. */
    public RunningVm start(VmSpec spec, Path socket) {
        return RunningVm.start(spec, QemuCommand.build(kit, spec, socket, tscKhz));
    }

    /** Boots without waiting, with a QMP monitor on {@code qmpSocket} (see {@link QemuMonitor}). */
    public RunningVm start(VmSpec spec, Path socket, Path qmpSocket) {
        List<String> cmd = new ArrayList<>(QemuCommand.build(kit, spec, socket, tscKhz));
        cmd.addAll(QemuCommand.monitor(qmpSocket));
        return RunningVm.start(spec, cmd);
    }

    /**
     * Starts a migration destination for a guest running {@code spec} elsewhere: QEMU with a
     * QMP monitor on {@code qmpSocket}, waiting for {@code migrate-incoming}; its console counts
     * the guest test as begun (the BEGIN line went to the source's console).
     */
    public RunningVm startIncoming(VmSpec spec, Path socket, Path qmpSocket) {
        List<String> cmd = new ArrayList<>(QemuCommand.build(kit, spec, socket, tscKhz));
        cmd.addAll(QemuCommand.monitor(qmpSocket));
        cmd.addAll(QemuCommand.incoming());
        RunningVm vm = RunningVm.start(spec, cmd);
        vm.serial().resumeTest();
        return vm;
    }

    static VmException failure(GuestResult r, String backendTail) {
        return new VmException("guest test " + r.test() + " reported " + r.status() + ", results "
                + r.results() + "\nlast console lines:\n" + r.tail(TAIL) + backendTail);
    }
}
