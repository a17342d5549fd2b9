package dev.vublk.uring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(NoFdLeaks.class)
class MemFdTest {
    /**
     * A peer that truncates a memfd we mapped makes our next access fault (SIGBUS). The JVM turns
     * that fault, inside a memory-segment access, into an InternalError the caller can catch:
     * this is what the control path and queue threads see, and the process lives on.
     */
    @Test
    void accessToATruncatedMappingIsAnInternalError() throws NativeException {
        int fd = MemFd.create("shrinks", 64 << 10);
        try (MappedRegion m = MappedRegion.map(fd, 0, 64 << 10, true)) {
            m.segment().set(ValueLayout.JAVA_LONG, 8192, 42);
            MemFd.resize(fd, 0);
            InternalError read = assertThrows(InternalError.class, () -> m.segment().get(ValueLayout.JAVA_LONG, 8192));
            assertTrue(read.getMessage().contains("unsafe memory access"), read.getMessage());
            assertThrows(InternalError.class, () -> m.segment().set(ValueLayout.JAVA_LONG, 0, 1));
            assertThrows(InternalError.class, () -> m.segment().fill((byte) 1));
            MemFd.resize(fd, 64 << 10); // the file is back: the mapping works again (zero-filled)
            assertEquals(0, m.segment().get(ValueLayout.JAVA_LONG, 8192));
        } finally {
            Fds.close(fd);
        }
    }

    @Test
    void unshrinkableMemfdRefusesToShrinkButMayGrow() throws NativeException {
        int fd = MemFd.createUnshrinkable("sealed", 8192);
        try {
            assertEquals(MemFd.F_SEAL_SHRINK, MemFd.seals(fd) & MemFd.F_SEAL_SHRINK);
            NativeException e = assertThrows(NativeException.class, () -> MemFd.resize(fd, 4096));
            assertEquals(Errno.EPERM, e.errno());
            MemFd.resize(fd, 16384);
            assertEquals(16384, Fds.fileSize(fd));
        } finally {
            Fds.close(fd);
        }
    }
}
