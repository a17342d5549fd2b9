package dev.vublk.uring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * Open file description locks ({@code fcntl} F_OFD_SETLK / F_OFD_GETLK) on byte ranges of a file.
 * Unlike classic POSIX record locks they belong to the open file description, not the process:
 * two descriptions of one file conflict even inside one process, a lock survives closing other
 * descriptors of the file, and it goes away when the last descriptor of its description is
 * closed (a {@code dup} shares it; a new {@code open}, {@link NativeFile#reopen}, does not).
 * Nothing waits: a conflicting request fails at once.
 */
public final class OfdLocks {
    /** A lock's type: many holders may share a byte, one holds it exclusively. */
    public enum Type {
        SHARED(0),     // F_RDLCK
        EXCLUSIVE(1);  // F_WRLCK

        final short value;

        Type(int value) {
            this.value = (short) value;
        }

        static Type of(short value) {
            return value == SHARED.value ? SHARED : value == EXCLUSIVE.value ? EXCLUSIVE : null;
        }
    }

    private static final int F_OFD_GETLK = 36, F_OFD_SETLK = 37;
    private static final short F_UNLCK = 2, SEEK_SET = 0;

    /** struct flock as x86-64 Linux lays it out: 32 bytes, the offsets 8-aligned. */
    private static final StructLayout FLOCK = MemoryLayout.structLayout(
            ValueLayout.JAVA_SHORT.withName("l_type"),
            ValueLayout.JAVA_SHORT.withName("l_whence"),
            MemoryLayout.paddingLayout(4),
            ValueLayout.JAVA_LONG.withName("l_start"),
            ValueLayout.JAVA_LONG.withName("l_len"),
            ValueLayout.JAVA_INT.withName("l_pid"),
            MemoryLayout.paddingLayout(4));
    private static final VarHandle L_TYPE = field("l_type");
    private static final VarHandle L_WHENCE = field("l_whence");
    private static final VarHandle L_START = field("l_start");
    private static final VarHandle L_LEN = field("l_len");

    private OfdLocks() {}

    private static VarHandle field(String name) {
        return FLOCK.varHandle(MemoryLayout.PathElement.groupElement(name));
    }

    /**
     * Takes a lock of {@code type} on {@code length} bytes at {@code offset} (the range may lie
     * past the end of the file); a lock this description already holds there changes type.
     *
     * @throws NativeException EAGAIN when another description holds a conflicting lock; EBADF for
     *     an exclusive lock through a descriptor not open for writing (the kernel's rule)
     */
    public static void lock(NativeFile file, long offset, long length, Type type) throws NativeException {
        set(file, offset, length, type.value, "fcntl(F_OFD_SETLK, " + type + " " + describe(offset, length) + ")");
    }

    /** Gives up this description's locks on the range; ranges not held are no error. */
    public static void unlock(NativeFile file, long offset, long length) throws NativeException {
        set(file, offset, length, F_UNLCK, "fcntl(F_OFD_SETLK, unlock " + describe(offset, length) + ")");
    }

    /**
     * The type of a lock another description holds on the range that would conflict with one of
     * {@code wanted}, or null when {@code wanted} could be taken now. Locks of this description
     * never count. The answer is a snapshot: others may lock or unlock right after.
     */
    public static Type conflicting(NativeFile file, long offset, long length, Type wanted) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fl = flock(arena, offset, length, wanted.value);
            call(file, F_OFD_GETLK, fl, "fcntl(F_OFD_GETLK, " + wanted + " " + describe(offset, length) + ")");
            short type = (short) L_TYPE.get(fl, 0L);
            return type == F_UNLCK ? null : Type.of(type);
        }
    }

    private static void set(NativeFile file, long offset, long length, short type, String name) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            call(file, F_OFD_SETLK, flock(arena, offset, length, type), name);
        }
    }

    /** A struct flock for the range, l_pid zero as OFD commands require. */
    private static MemorySegment flock(Arena arena, long offset, long length, short type) {
        if (offset < 0 || length < 1) {
            throw new IllegalArgumentException("lock range " + describe(offset, length));
        }
        MemorySegment fl = arena.allocate(FLOCK); // zeroed: l_pid 0
        L_TYPE.set(fl, 0L, type);
        L_WHENCE.set(fl, 0L, SEEK_SET);
        L_START.set(fl, 0L, offset);
        L_LEN.set(fl, 0L, length);
        return fl;
    }

    /** The call retried on EINTR, as the non-blocking commands can still be interrupted. */
    private static void call(NativeFile file, int command, MemorySegment fl, String name) throws NativeException {
        while (true) {
            try {
                Libc.call(name, file.path().toString(), Syscalls.FCNTL, file.fd(), command, fl);
                return;
            } catch (NativeException e) {
                if (e.errno() != Errno.EINTR) {
                    throw e;
                }
            }
        }
    }

    private static String describe(long offset, long length) {
        return length == 1 ? "byte " + offset : "bytes " + offset + "+" + length;
    }
}
