package dev.vublk.uring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(NoFdLeaks.class)
class MappedRegionTest {
    @Test
    void twoMappingsOfOneMemfdSeeEachOthersWrites() throws NativeException {
        int fd = MemFd.create("guest-ram", 1 << 20);
        try (MappedRegion first = MappedRegion.map(fd, 0, 1 << 20, true);
             MappedRegion second = MappedRegion.map(fd, 4096, 8192, true)) {
            assertEquals(1 << 20, first.length());
            assertEquals(8192, second.length());
            first.segment().set(ValueLayout.JAVA_LONG, 4096 + 16, 0x0123_4567_89ab_cdefL);
            assertEquals(0x0123_4567_89ab_cdefL, second.segment().get(ValueLayout.JAVA_LONG, 16));
            second.segment().set(ValueLayout.JAVA_INT, 8188, 77);
            assertEquals(77, first.segment().get(ValueLayout.JAVA_INT, 4096 + 8188));
            assertEquals(first.address() + 4096 + 16,
                    first.segment().asSlice(4096 + 16).address(), "address is the mapping's start");
        } finally {
            Fds.close(fd);
        }
    }

    @Test
    void accessAfterCloseThrowsInsteadOfCrashing() throws NativeException {
        int fd = MemFd.create("closed", 4096);
        try {
            MappedRegion region = MappedRegion.map(fd, 0, 4096, true);
            region.segment().set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
            region.close();
            region.close();
            assertThrows(IllegalStateException.class, () -> region.segment().get(ValueLayout.JAVA_BYTE, 0));
            assertThrows(IllegalStateException.class, () -> region.segment().set(ValueLayout.JAVA_BYTE, 0, (byte) 2));
        } finally {
            Fds.close(fd);
        }
    }

    @Test
    void readOnlyMappingSeesWritesMadeThroughAnother() throws NativeException {
        int fd = MemFd.create("ro", 4096);
        try (MappedRegion writable = MappedRegion.map(fd, 0, 4096, true);
             MappedRegion readOnly = MappedRegion.map(fd, 0, 4096, false)) {
            writable.segment().set(ValueLayout.JAVA_INT, 0, 5);
            assertEquals(5, readOnly.segment().get(ValueLayout.JAVA_INT, 0));
        } finally {
            Fds.close(fd);
        }
    }

    @Test
    void badMappingsNameTheError() throws NativeException {
        NativeException zero = assertThrows(NativeException.class, () -> MappedRegion.map(0, 0, 0, true));
        assertEquals(Errno.EINVAL, zero.errno());
        NativeException badFd = assertThrows(NativeException.class, () -> MappedRegion.map(-1, 0, 4096, true));
        assertEquals("mmap", badFd.call());
        assertEquals(Errno.EBADF, badFd.errno());
    }
}
