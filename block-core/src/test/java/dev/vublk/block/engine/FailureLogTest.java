package dev.vublk.block.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.vublk.uring.Errno;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** The failed-request log of a queue: a burst per window, and one line for a full disk however many writes it fails. */
class FailureLogTest {
    private final Logger logger = (Logger) LoggerFactory.getLogger(QueueEngine.class);
    private final ListAppender<ILoggingEvent> lines = new ListAppender<>();
    private final FailureLog log = new FailureLog(Path.of("disk.img"));

    @BeforeEach
    void attach() {
        lines.start();
        logger.addAppender(lines);
    }

    @AfterEach
    void detach() {
        logger.detachAppender(lines);
    }

    private List<String> messages() {
        return lines.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    }

    @Test
    void aFullDiskIsOneLinePerWindowAndOtherFailuresKeepTheirBurst() {
        for (int i = 0; i < 30; i++) {
            log.failed(Request.Op.WRITE, 4096L * i, 4096, -Errno.ENOSPC);
        }
        log.failed(Request.Op.FLUSH, 0, 0, -Errno.EDQUOT); // the same cause: already told
        assertEquals(List.of("disk.img: write of 4096 bytes at offset 0 failed: ENOSPC"), messages());
        for (int i = 0; i < 25; i++) {
            log.failed(Request.Op.READ, 512L * i, 512, -Errno.EIO);
        }
        assertEquals(FailureLog.BURST, messages().size(), "other failures fill the rest of the window's 20 lines");
        assertEquals("disk.img: read of 512 bytes at offset 0 failed: EIO", messages().get(1));
    }
}
