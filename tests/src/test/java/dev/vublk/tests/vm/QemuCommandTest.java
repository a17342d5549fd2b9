package dev.vublk.tests.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QemuCommandTest {

    @TempDir
    Path dir;

    private GuestKit fakeKit() throws IOException {
        return new GuestKit(Files.writeString(dir.resolve("vmlinux"), "k"), Files.writeString(dir.resolve("initrd"), "i"));
    }

    @Test
    void sharesGuestMemoryAndConfiguresQueuesAndReconnect() throws IOException {
        VmSpec spec = VmSpec.of("fio-verify").withQueues(2).withReconnect(true).withMemoryMiB(256)
                .withArg("mib", "16").withArg("jobs", "2");
        List<String> cmd = QemuCommand.build(fakeKit(), spec, Path.of("/tmp/s.sock"), 2_445_404);
        String line = String.join(" ", cmd);
        assertTrue(line.contains("-accel tcg"), line);
        assertTrue(line.contains("-smp 2 "), line);
        assertTrue(line.contains("memory-backend-memfd,id=mem,size=256M,share=on"), line);
        assertTrue(line.contains("microvm,pcie=on,memory-backend=mem"), line);
        assertTrue(line.contains("socket,id=c0,path=/tmp/s.sock,reconnect=1"), line);
        assertTrue(line.contains("vhost-user-blk-pci,chardev=c0,num-queues=2"), line);
        assertEquals("console=ttyS0 quiet tsc_early_khz=2445404 tsc=reliable vutest=fio-verify vu_jobs=2 vu_mib=16",
                cmd.get(cmd.indexOf("-append") + 1));
    }

    @Test
    void rejectsArgumentsThatWouldSplitTheCommandLine() {
        assertThrows(IllegalArgumentException.class, () -> VmSpec.of("a b"));
        assertThrows(IllegalArgumentException.class, () -> VmSpec.of("t").withArg("k", "x y"));
        assertThrows(IllegalArgumentException.class, () -> VmSpec.of("t").withQueues(0));
        assertThrows(IllegalArgumentException.class, () -> VmSpec.of("t").withKernelArgs("a=b c"));
        assertThrows(IllegalArgumentException.class, () -> VmSpec.of("t").withKernelArgs("=0"));
    }

    @Test
    void kernelParametersFollowTheTestName() throws IOException {
        VmSpec spec = VmSpec.of("cache-migrate").withKernelArgs("init_on_alloc=0", "nokaslr").withArg("mib", "64");
        List<String> cmd = QemuCommand.build(fakeKit(), spec, Path.of("/tmp/s.sock"), 2_000_000);
        assertEquals("console=ttyS0 quiet tsc_early_khz=2000000 tsc=reliable vutest=cache-migrate init_on_alloc=0 nokaslr"
                + " vu_mib=64", cmd.get(cmd.indexOf("-append") + 1));
    }

    @Test
    void readsKitPathsFromScriptOutput() throws IOException {
        GuestKit k = fakeKit();
        GuestKit parsed = GuestKit.fromEnv("GUEST_KERNEL=" + k.kernel() + "\nGUEST_INITRD=" + k.initrd() + "\n");
        assertEquals(k, parsed);
        assertThrows(VmException.class, () -> GuestKit.fromEnv("nothing useful"));
    }

    @Test
    void hostTscFrequencyIsPlausible() {
        long khz = QemuCommand.hostTscKhz();
        assertTrue(khz > 100_000 && khz < 10_000_000, Long.toString(khz));
    }
}
