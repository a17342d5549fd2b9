package dev.vublk.tests.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vublk.tests.backend.BackendKind;
import dev.vublk.tests.frontend.BlkQueueDriver;
import dev.vublk.tests.frontend.BlkResult;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SmokeTest {
    @TempDir Path dir;

    @ParameterizedTest
    @EnumSource(value = BackendKind.class, names = {"OURS_IN_PROCESS", "QSD"})
    void writeRead(BackendKind kind) throws Exception {
        try (BackendFixture f = new BackendFixture(kind, dir)) {
            f.start(1);
            for (FrontendOptions o : new FrontendOptions[] {FrontendOptions.qemu(1), FrontendOptions.cloudHypervisor(1)}) {
                VhostUserBlkFrontend fe = f.open(o);
                System.out.printf("%s %s features %x proto %x config %s%n", kind, o.style(), fe.offeredFeatures(),
                        fe.offeredProtocolFeatures(), fe.configView());
                BlkQueueDriver q = fe.queue(0);
                byte[] data = new byte[4096];
                Arrays.fill(data, (byte) 7);
                assertEquals(0, q.write(8, data).status());
                BlkResult r = q.read(8, 4096);
                assertEquals(0, r.status());
                assertEquals(4097, r.usedLength());
                assertArrayEquals(data, r.data());
                BlkResult id = q.getId();
                System.out.println("id status " + id.status() + " len " + id.usedLength() + " " + new String(id.data()));
                System.out.println("max slots " + (fe.client().protocolFeatures()));
                fe.stop();
                fe.disconnect();
            }
        }
    }
}
