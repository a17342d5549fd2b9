package dev.vublk.uring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The system call table this module uses, and the one downcall all its calls go through. */
class SyscallsTest {
    /** Where Debian's linux-libc-dev puts the x86_64 numbers (scripts/test installs it). */
    private static final Path X86_64_HEADER = Path.of("/usr/include/x86_64-linux-gnu/asm/unistd_64.h");

    @Test
    void everyNumberIsTheInstalledKernelHeadersOne() throws Exception {
        assertEquals("amd64", System.getProperty("os.arch"), "this machine's table is the one checked here");
        Map<String, Long> header = header(X86_64_HEADER);
        int checked = 0;
        for (Field f : Syscalls.class.getDeclaredFields()) {
            if (!Modifier.isStatic(f.getModifiers()) || f.getName().equals("AT_FDCWD")) {
                continue;
            }
            String name = f.getName().toLowerCase();
            assertTrue(header.containsKey(name), "no __NR_" + name + " in " + X86_64_HEADER);
            assertEquals(header.get(name), f.getLong(null), "__NR_" + name);
            checked++;
        }
        assertEquals(38, checked, "system calls in the table");
    }

    private static Map<String, Long> header(Path file) throws IOException {
        Map<String, Long> numbers = new HashMap<>();
        Matcher m = Pattern.compile("(?m)^#define __NR_(\\w+) (\\d+)$").matcher(Files.readString(file));
        while (m.find()) {
            numbers.put(m.group(1), Long.parseLong(m.group(2)));
        }
        return numbers;
    }

    @Test
    void aFailedCallNamesTheCallTheFileAndTheErrno() {
        NativeException e = assertThrows(NativeException.class,
                () -> Libc.call("close", "nothing", Syscalls.CLOSE, -1));
        assertEquals(Errno.EBADF, e.errno());
        assertTrue(e.getMessage().contains("close") && e.getMessage().contains("nothing"), e.getMessage());
    }

    @Test
    void aClosedOrHeapSegmentIsRefusedNotPassedAsAPointer() {
        MemorySegment closed;
        try (Arena arena = Arena.ofConfined()) {
            closed = arena.allocate(8);
        }
        assertThrows(IllegalStateException.class, () -> Libc.call("read", null, Syscalls.READ, 0, closed, 8L));
        MemorySegment heap = MemorySegment.ofArray(new byte[8]);
        assertThrows(IllegalArgumentException.class, () -> Libc.call("read", null, Syscalls.READ, 0, heap, 8L));
    }
}
