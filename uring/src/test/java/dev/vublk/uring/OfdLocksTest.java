package dev.vublk.uring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.uring.OfdLocks.Type;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * OFD locks between two open file descriptions of one file in this process: they conflict as
 * they would between processes, which is what makes these tests possible without a child.
 */
@ExtendWith(NoFdLeaks.class)
class OfdLocksTest {
    @TempDir
    Path dir;

    private Path file;

    @BeforeEach
    void createFile() throws IOException {
        file = Files.write(dir.resolve("locked.img"), new byte[4096]);
    }

    @Test
    void sharedLocksShareAndAnExclusiveOneConflictsWithEither() throws IOException {
        try (NativeFile a = NativeFile.open(file, false, false); NativeFile b = NativeFile.open(file, true, false)) {
            OfdLocks.lock(a, 100, 1, Type.SHARED);
            OfdLocks.lock(b, 100, 1, Type.SHARED);
            OfdLocks.lock(b, 101, 1, Type.EXCLUSIVE);

            NativeException e = assertThrows(NativeException.class, () -> OfdLocks.lock(a, 101, 1, Type.SHARED));
            assertEquals(Errno.EAGAIN, e.errno());
            assertEquals("fcntl(F_OFD_SETLK, SHARED byte 101) failed: EAGAIN (Resource temporarily unavailable) on "
                    + file, e.getMessage());
            e = assertThrows(NativeException.class, () -> OfdLocks.lock(b, 100, 1, Type.EXCLUSIVE));
            assertEquals(Errno.EAGAIN, e.errno());
            // Past the end of the file is lockable, as QEMU's bytes 100..203 are in a tiny file.
            OfdLocks.lock(b, 1L << 40, 1, Type.EXCLUSIVE);
            // The kernel allows an exclusive lock only through a descriptor open for writing.
            e = assertThrows(NativeException.class, () -> OfdLocks.lock(a, 300, 1, Type.EXCLUSIVE));
            assertEquals(Errno.EBADF, e.errno());
            // Testing for one needs no such right: the test takes nothing.
            assertEquals(Type.EXCLUSIVE, OfdLocks.conflicting(a, 101, 1, Type.EXCLUSIVE));
        }
    }

    @Test
    void conflictingNamesAnotherDescriptionsLockAndNeverOnesOwn() throws IOException {
        try (NativeFile a = NativeFile.open(file, true, false); NativeFile b = NativeFile.open(file, true, false)) {
            OfdLocks.lock(a, 200, 1, Type.SHARED);
            OfdLocks.lock(a, 201, 1, Type.EXCLUSIVE);

            assertNull(OfdLocks.conflicting(a, 200, 2, Type.EXCLUSIVE), "a description never conflicts with itself");
            assertEquals(Type.SHARED, OfdLocks.conflicting(b, 200, 1, Type.EXCLUSIVE));
            assertNull(OfdLocks.conflicting(b, 200, 1, Type.SHARED));
            assertEquals(Type.EXCLUSIVE, OfdLocks.conflicting(b, 201, 1, Type.SHARED));
            assertNull(OfdLocks.conflicting(b, 202, 1, Type.EXCLUSIVE));
            // A test takes nothing: a shared lock on 200 is still free to take.
            OfdLocks.lock(b, 200, 1, Type.SHARED);
        }
    }

    @Test
    void unlockGivesTheBytesBack() throws IOException {
        try (NativeFile a = NativeFile.open(file, true, false); NativeFile b = NativeFile.open(file, true, false)) {
            OfdLocks.lock(a, 100, 4, Type.SHARED);
            OfdLocks.unlock(a, 101, 1);
            assertNull(OfdLocks.conflicting(b, 101, 1, Type.EXCLUSIVE));
            assertEquals(Type.SHARED, OfdLocks.conflicting(b, 100, 1, Type.EXCLUSIVE));
            assertEquals(Type.SHARED, OfdLocks.conflicting(b, 102, 1, Type.EXCLUSIVE));
            OfdLocks.unlock(a, 0, 1000);
            OfdLocks.unlock(a, 0, 1000); // nothing held: no error
            OfdLocks.lock(b, 100, 4, Type.EXCLUSIVE);
        }
    }

    @Test
    void locksStayWithTheDescriptionNotTheDescriptor() throws IOException {
        try (NativeFile other = NativeFile.open(file, true, false)) {
            NativeFile a = NativeFile.open(file, true, false);
            OfdLocks.lock(a, 100, 1, Type.SHARED);
            // A reopen is a description of its own: closing it leaves a's locks alone...
            a.reopen(false, false).close();
            assertEquals(Type.SHARED, OfdLocks.conflicting(other, 100, 1, Type.EXCLUSIVE));
            // ...and a duplicate keeps them after a itself is closed, with O_DIRECT switched on.
            try (NativeFile direct = a.directDuplicate()) {
                a.close();
                assertTrue(direct.direct());
                assertEquals(Type.SHARED, OfdLocks.conflicting(other, 100, 1, Type.EXCLUSIVE));
                assertEquals(4096, direct.size());
            }
            assertNull(OfdLocks.conflicting(other, 100, 1, Type.EXCLUSIVE), "closing the last descriptor unlocks");
            OfdLocks.lock(other, 100, 1, Type.EXCLUSIVE);
        }
    }

    /** The kernel's own view shows the struct was laid out right: type, start and end per lock. */
    @Test
    void procLocksShowsTheRangesAndTypesTaken() throws IOException {
        try (NativeFile a = NativeFile.open(file, true, false)) {
            OfdLocks.lock(a, 100, 2, Type.SHARED);
            OfdLocks.lock(a, 203, 1, Type.EXCLUSIVE);
            assertEquals(List.of("OFDLCK READ 100 101", "OFDLCK WRITE 203 203"), procLocks(file));
        }
        assertEquals(List.of(), procLocks(file));
    }

    @Test
    void emptyOrNegativeRangesAreRefused() throws IOException {
        try (NativeFile a = NativeFile.open(file, true, false)) {
            assertThrows(IllegalArgumentException.class, () -> OfdLocks.lock(a, 0, 0, Type.SHARED));
            assertThrows(IllegalArgumentException.class, () -> OfdLocks.conflicting(a, -1, 1, Type.SHARED));
        }
    }

    /** This file's lines of /proc/locks as "class type start end", by start. */
    private static List<String> procLocks(Path file) throws IOException {
        String inode = ":" + Files.getAttribute(file, "unix:ino") + " ";
        return Files.readAllLines(Path.of("/proc/locks")).stream()
                .filter(l -> l.contains(inode))
                .map(l -> l.trim().split("\\s+"))
                .map(f -> f[1] + " " + f[3] + " " + f[6] + " " + f[7])
                .sorted((x, y) -> Long.compare(Long.parseLong(x.split(" ")[2]), Long.parseLong(y.split(" ")[2])))
                .toList();
    }
}
