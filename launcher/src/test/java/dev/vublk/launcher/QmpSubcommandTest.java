package dev.vublk.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static dev.vublk.launcher.LauncherTest.run;

import dev.vublk.control.ControlServer;
import dev.vublk.control.DiskCommands;
import dev.vublk.control.QmpCommand;
import dev.vublk.control.TestDisk;
import dev.vublk.launcher.LauncherTest.Result;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code vhost-user-blk qmp}: its output and exit codes against a running control server. */
@Timeout(120) // a guard against a hang only
class QmpSubcommandTest {
    @TempDir
    Path dir;

    Path socket;
    TestDisk disk;
    ControlServer server;

    /** {@code vhost-user-blk qmp --control-socket SOCKET COMMAND ARGS...} in this JVM. */
    static Result qmp(Path socket, String... commandAndArgs) {
        String[] args = new String[commandAndArgs.length + 3];
        args[0] = "qmp";
        args[1] = "--control-socket";
        args[2] = socket.toString();
        System.arraycopy(commandAndArgs, 0, args, 3, commandAndArgs.length);
        return run(args);
    }

    private Result qmp(String... commandAndArgs) {
        return qmp(socket, commandAndArgs);
    }

    @BeforeEach
    void start() throws IOException {
        socket = dir.resolve("ctl.sock");
        disk = TestDisk.raw(dir, 1 << 20);
        AtomicReference<ControlServer> self = new AtomicReference<>();
        Map<String, QmpCommand> commands = new HashMap<>(DiskCommands.of(disk.disk()));
        commands.put("x-echo", args -> {
            self.get().emit("X_BEFORE_REPLY", Map.of()); // the client must skip events to find its reply
            return args;
        });
        server = ControlServer.start(socket, commands, "vhost-user-blk test", () -> {});
        self.set(server);
    }

    @AfterEach
    void stop() throws IOException {
        server.close();
        disk.close();
    }

    @Test
    void printsTheReplyAndExitsZeroOnReturn() {
        Result r = qmp("query-status");
        assertEquals(new Result(0, "{\"return\": {\"running\": false, \"status\": \"prelaunch\"}}" + System.lineSeparator(), ""), r);
    }

    @Test
    void argumentValuesAreIntegersBooleansStringsOrJson() {
        Result r = qmp("x-echo", "n=5", "neg=-3", "b=true", "s=hello", "t=True", "big=99999999999999999999", "e=", "eq=a=b",
                "j=json:{\"a\": [1, null, \"\\u00e9\"]}");
        assertEquals(0, r.code(), r.err());
        assertEquals("{\"return\": {\"n\": 5, \"neg\": -3, \"b\": true, \"s\": \"hello\", \"t\": \"True\","
                + " \"big\": \"99999999999999999999\", \"e\": \"\", \"eq\": \"a=b\", \"j\": {\"a\": [1, null, \"\\u00e9\"]}}}",
                r.out().strip());
    }

    @Test
    void setsLimitsThroughTheSocket() {
        Result r = qmp("block_set_io_throttle", "device=disk0", "iops=0", "iops_rd=100", "iops_wr=0", "bps=0", "bps_rd=0",
                "bps_wr=4096", "bps_wr_max=8192", "bps_wr_max_length=3");
        assertEquals(0, r.code(), r.err());
        assertEquals("{\"return\": {}}", r.out().strip());
        assertEquals(100, disk.disk().limits().iopsRd());
        assertEquals(8192, disk.disk().limits().bpsWrMax());
        assertEquals(3, disk.disk().limits().bpsWrMaxLength());
    }

    @Test
    void anErrorReplyExitsOneWithTheMessageOnStderr() {
        Result r = qmp("block_resize", "size=1000");
        assertEquals(1, r.code());
        String desc = "cannot resize disk0 to 1000 bytes: size 1000 is not a positive multiple of 512 bytes"
                + " (the logical block size and the image's request alignment)";
        assertEquals("{\"error\": {\"class\": \"GenericError\", \"desc\": \"" + desc + "\"}}", r.out().strip());
        assertEquals("vhost-user-blk qmp: GenericError: " + desc, r.err().strip());

        r = qmp("no-such-command");
        assertEquals(1, r.code());
        assertEquals("vhost-user-blk qmp: CommandNotFound: The command no-such-command has not been found", r.err().strip());
    }

    @Test
    void usageErrorsExitTwo() {
        for (String[] args : new String[][] {
            {"qmp", "query-status"},
            {"qmp", "--control-socket", "/nonexistent"},
            {"qmp", "--control-socket", "/nonexistent", "query-block", "noequals"},
            {"qmp", "--control-socket", "/nonexistent", "query-block", "=1"},
            {"qmp", "--control-socket", "/nonexistent", "query-block", "a=1", "a=2"},
            {"qmp", "--control-socket", "/nonexistent", "query-block", "a=json:{"},
        }) {
            Result r = run(args);
            assertEquals(2, r.code(), String.join(" ", args) + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertEquals("", r.out());
        }
        assertEquals("vhost-user-blk: argument a given twice (see --help)",
                run("qmp", "--control-socket", "/x", "c", "a=1", "a=2").err().strip());
    }

    /** The client speaks QMP as QEMU serves it: against qemu-storage-daemon's monitor (needs it installed). */
    @Test
    void worksAgainstQemusOwnMonitor() throws Exception {
        Path qsdSocket = dir.resolve("qsd.sock");
        Process qsd = new ProcessBuilder("qemu-storage-daemon", "--chardev", "socket,id=m,path=" + qsdSocket + ",server=on,wait=off",
                "--monitor", "chardev=m").redirectErrorStream(true).redirectOutput(dir.resolve("qsd.log").toFile()).start();
        try {
            Awaitility.await().atMost(60, TimeUnit.SECONDS).ignoreExceptions().until(() -> { // listening, not only bound
                SocketChannel.open(UnixDomainSocketAddress.of(qsdSocket)).close();
                return true;
            });
            Result r = qmp(qsdSocket, "query-named-block-nodes", "flat=true");
            assertEquals(new Result(0, "{\"return\": []}" + System.lineSeparator(), ""), r);
            r = qmp(qsdSocket, "block_resize", "node-name=none", "size=512");
            assertEquals(1, r.code());
            assertEquals("vhost-user-blk qmp: GenericError: Cannot find device='' nor node-name='none'", r.err().strip());
        } finally {
            qsd.destroy();
            qsd.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void anUnreachableSocketExitsOneNamingIt() {
        Path missing = dir.resolve("missing.sock");
        Result r = run("qmp", "--control-socket", missing.toString(), "query-status");
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("vhost-user-blk qmp: " + missing + ": "), r.err());
        assertEquals("", r.out());
    }
}
