package dev.vublk.tests.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.control.ControlServer;
import dev.vublk.control.DiskCommands;
import dev.vublk.launcher.Main;
import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.backend.InProcessBackend;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A running Linux guest sees its disk grow: an operator's {@code vhost-user-blk qmp ... block_resize}
 * reaches the backend's control socket, the backend (in this JVM) resizes the image while the
 * guest waits, QEMU hears CONFIG_CHANGE_MSG and tells the driver, and /sys/block/vda/size
 * changes without a reboot; the data written before reads back, the new space takes data.
 */
@Tag("vm")
class OnlineResizeVmTest {
    private static final long MIB = 1 << 20;
    private static final long BEFORE = 16 * MIB, AFTER = 40 * MIB;
    private static GuestKit kit;

    @TempDir
    Path dir;

    @BeforeAll
    static void buildKit() {
        kit = GuestKit.get();
    }

    @Test
    void aRunningGuestSeesTheNewSizeWithItsDataIntact() throws Exception {
        String format = "qcow2";
        Path image = dir.resolve("grow." + format);
        QemuImg.create(format, image, BEFORE);
        VmRunner vm = new VmRunner(kit, dir);
        VmSpec spec = VmSpec.of("resize").withArg("seed", "5").withArg("mib", "8").withArg("wait", "120");
        GuestResult r;
        try (InProcessBackend backend = InProcessBackend.start(
                new BackendSpec(image, format, 1, false, "resize", 512, true), vm.socketPath());
             ControlServer control = ControlServer.start(dir.resolve("qmp.sock"), DiskCommands.of(backend.disk()),
                     "test", () -> { });
             RunningVm guest = vm.start(spec, vm.socketPath())) {
            long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
            while (!guest.serial().results().containsKey("written")) {
                assertTrue(System.nanoTime() < deadline && guest.isAlive(),
                        "guest never wrote its pattern:\n" + guest.serial().tailText(40));
                Thread.sleep(100);
            }
            StringWriter out = new StringWriter(), err = new StringWriter();
            int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), "qmp", "--control-socket",
                    dir.resolve("qmp.sock").toString(), "block_resize", "device=resize", "size=" + AFTER);
            assertEquals(0, code, out + " " + err);
            assertEquals("{\"return\": {}}", out.toString().strip());
            r = guest.await();
            if (!r.passed()) {
                throw VmRunner.failure(r, "");
            }
        }
        assertEquals(BEFORE, r.getLong("size_before"));
        assertEquals(AFTER, r.getLong("size_after"), "/sys/block/vda/size after the resize");
        assertEquals("yes", r.get("match"), "the pattern written before the resize");
        assertEquals(r.get("tail_pattern_sha256"), r.get("tail_sha256"), "1 MiB written past the old end");
        QemuImg.assertCheckClean(format, image);
        assertEquals(AFTER, QemuImg.virtualSize(format, image));
        String want = HostImages.sha256(HostImages.pattern(5, (int) (8 * MIB)));
        assertEquals(want, HostImages.sha256(QemuImg.toRaw(format, image, dir.resolve("grow-as-raw.img")), 8 * MIB));
    }
}
