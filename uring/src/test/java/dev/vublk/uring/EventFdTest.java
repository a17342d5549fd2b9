package dev.vublk.uring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(NoFdLeaks.class)
class EventFdTest {
    @Test
    void writesAddUpAndReadResets() throws NativeException {
        try (EventFd e = EventFd.create(EventFd.EFD_NONBLOCK)) {
            assertTrue(Fds.isCloexec(e.fd()));
            e.write(3);
            EventFd.write(e.fd(), 4);
            assertEquals(7, e.read());
            NativeException empty = assertThrows(NativeException.class, e::read);
            assertEquals(Errno.EAGAIN, empty.errno());
            assertEquals("read(eventfd)", empty.call());
        }
    }

    @Test
    void blockingReadWaitsForAWrite() throws Exception {
        try (EventFd e = EventFd.create()) {
            CompletableFuture<Long> reader = CompletableFuture.supplyAsync(() -> {
                try {
                    return e.read();
                } catch (NativeException ex) {
                    throw new RuntimeException(ex);
                }
            });
            Thread.sleep(50);
            assertFalse(reader.isDone());
            e.write(9);
            assertEquals(9, reader.get(5, TimeUnit.SECONDS));
        }
    }

    @Test
    void adoptedDescriptorIsClosedOnce() throws NativeException {
        EventFd original = EventFd.create();
        EventFd adopted = EventFd.adopt(Fds.dup(original.fd()));
        original.close();
        adopted.write(2);
        assertEquals(2, adopted.read());
        int fd = adopted.fd();
        adopted.close();
        adopted.close();
        assertFalse(Fds.isOpen(fd));
    }

    /** A kick, call or error descriptor that is no eventfd would block the thread reading or writing it. */
    @Test
    void adoptRefusesDescriptorsThatAreNotEventfds() throws Exception {
        int[] pipe = Fds.pipe();
        int memfd = MemFd.create("not-an-eventfd", 4096);
        UnixSocket[] pair = UnixSocket.pair();
        try {
            for (int fd : new int[] {pipe[0], pipe[1], memfd, pair[0].fd()}) {
                NativeException e = assertThrows(NativeException.class, () -> EventFd.adopt(fd));
                assertEquals(Errno.EINVAL, e.errno());
                assertTrue(e.getMessage().contains("not an eventfd"), e.getMessage());
                assertTrue(Fds.isOpen(fd), "a refused descriptor stays the caller's");
            }
            assertTrue(assertThrows(NativeException.class, () -> EventFd.check(pipe[0])).getMessage()
                    .contains("pipe:["));
            assertEquals(Errno.EBADF, assertThrows(NativeException.class, () -> EventFd.check(100_000)).errno());
        } finally {
            Fds.close(pipe[0]);
            Fds.close(pipe[1]);
            Fds.close(memfd);
            pair[0].close();
            pair[1].close();
        }
    }
}
