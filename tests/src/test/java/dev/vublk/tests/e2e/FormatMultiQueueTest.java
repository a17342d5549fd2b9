package dev.vublk.tests.e2e;

import dev.vublk.tests.backend.BackendKind;
import dev.vublk.tests.backend.BackendSpec;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.vm.QemuImg;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * QCOW2 and VHDX through the whole device: several queues allocate and read at once on a fresh
 * image; afterwards qemu-img finds the image consistent and holding exactly what was written.
 */
class FormatMultiQueueTest {
    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0} with {1} queues")
    @CsvSource({"qcow2, 2", "qcow2, 4", "vhdx, 2", "vhdx, 4"})
    void concurrentAllocatingWritesThroughTheDevice(String format, int queues) throws Exception {
        Path image = dir.resolve("disk." + format);
        QemuImg.create(format, image, 64 << 20);
        try (BackendFixture f = new BackendFixture(BackendKind.OURS_IN_PROCESS, dir)) {
            f.start(new BackendSpec(image, format, queues, false, "fmt", 512, true));
            ConcurrentIoChecker checker = new ConcurrentIoChecker(f.open(FrontendOptions.qemu(queues)),
                    BackendFixture.IMAGE_BYTES / 512);
            checker.run(300);
            f.close(); // the image is closed (flushed) before qemu-img looks at it
            QemuImg.assertCheckClean(format, image);
            checker.verifyRawFile(QemuImg.toRaw(format, image, dir.resolve("disk-as-raw.img")));
        }
    }
}
