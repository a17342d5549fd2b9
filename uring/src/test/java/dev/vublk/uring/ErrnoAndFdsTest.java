package dev.vublk.uring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(NoFdLeaks.class)
class ErrnoAndFdsTest {
    @Test
    void errnoNamesAndDescriptions() {
        assertEquals("EBADF", Errno.name(Errno.EBADF));
        assertEquals("EBADF", Errno.name(-Errno.EBADF));
        assertEquals("EOPNOTSUPP", Errno.name(Errno.ENOTSUP));
        assertEquals("errno 200", Errno.name(200));
        assertEquals("errno 5000", Errno.name(5000));
        assertEquals("No such file or directory", Errno.describe(Errno.ENOENT));
    }

    @Test
    void nativeExceptionCarriesCallErrnoAndFile() {
        NativeException e = new NativeException("pread", Errno.EIO, "/images/a.qcow2");
        assertEquals("pread", e.call());
        assertEquals(Errno.EIO, e.errno());
        assertEquals("EIO", e.errnoName());
        assertEquals("/images/a.qcow2", e.file());
        assertEquals("pread failed: EIO (Input/output error) on /images/a.qcow2", e.getMessage());
        assertEquals("close failed: EBADF (Bad file descriptor)", new NativeException("close", Errno.EBADF).getMessage());
    }

    @Test
    void dupIsCloexecAndOpenUntilClosed() throws NativeException {
        int memfd = MemFd.create("dup", 4096);
        int copy = Fds.dup(memfd);
        try {
            assertNotEquals(memfd, copy);
            assertTrue(Fds.isCloexec(memfd));
            assertTrue(Fds.isCloexec(copy));
            assertTrue(Fds.isOpen(copy));
        } finally {
            Fds.close(copy);
            Fds.close(memfd);
        }
        assertFalse(Fds.isOpen(copy));
        NativeException e = assertThrows(NativeException.class, () -> Fds.close(copy));
        assertEquals(Errno.EBADF, e.errno());
        Fds.closeQuietly(copy);
        Fds.closeQuietly(-1);
        Fds.closeAllQuietly(null);
    }

    @Test
    void seekableMeansRegularFileOrBlockDevice() throws Exception {
        int memfd = MemFd.create("seek", 4096);
        try (EventFd event = EventFd.create()) {
            assertTrue(Fds.isSeekable(memfd), "a memfd is a regular file");
            assertFalse(Fds.isSeekable(event.fd()));
        } finally {
            Fds.close(memfd);
        }
        assertEquals(Errno.EBADF, assertThrows(NativeException.class, () -> Fds.isSeekable(-1)).errno());
    }

    @Test
    void openCountFollowsOpenAndClose() throws NativeException {
        int before = Fds.openCount();
        int fd = MemFd.create("count", 0);
        assertEquals(before + 1, Fds.openCount());
        Fds.close(fd);
        assertEquals(before, Fds.openCount());
    }
}
