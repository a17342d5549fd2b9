package dev.vublk.uring;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The kernel, through libc's {@code syscall()}. Every call captures errno in the calling
 * thread's state segment, so the value read back is the one this call set, whatever the JVM did
 * in between.
 */
final class Libc {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LOOKUP = LINKER.defaultLookup();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(
            java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");
    private static final ThreadLocal<MemorySegment> STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE));

    /**
     * libc's {@code syscall(long number, ...)}: the one downcall of this module's kernel calls
     * (see {@link Syscalls} for why one). Arguments are passed as six longs; the kernel ignores
     * the ones a call does not take.
     */
    static final MethodHandle SYSCALL = LINKER.downcallHandle(LOOKUP.find("syscall").orElseThrow(),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
            CAPTURE_ERRNO, Linker.Option.firstVariadicArg(1));

    private Libc() {}

    /** The calling thread's errno capture segment: pass it as the first argument of a handle. */
    static MemorySegment state() {
        return STATE.get();
    }

    /** errno captured by the last handle called on this thread. */
    static int errno() {
        return (int) ERRNO.get(STATE.get(), 0L);
    }

    static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) Strerror.HANDLE.invokeExact(errno);
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "unknown error";
        }
    }

    /** Linked on the first error message only: a backend that meets no error never pays for it. */
    private static final class Strerror {
        static final MethodHandle HANDLE = LINKER.downcallHandle(
                LOOKUP.find("strerror").orElseThrow(), FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    /**
     * System call {@code nr} for the data path: no boxing, returns the kernel's result, -1 with
     * errno in {@link #errno()} on failure.
     */
    static long syscall(long nr, long a, long b, long c, long d, long e, long f) {
        try {
            return (long) SYSCALL.invokeExact(state(), nr, a, b, c, d, e, f);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Rethrows what a downcall threw: only Errors and RuntimeExceptions can come out of one. */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }

    /**
     * System call {@code nr} on the control path (boxing is fine there): each argument is an
     * Integer, a Long or a native MemorySegment (passed as its address; the caller keeps it
     * alive across the call). Throws a {@link NativeException} naming the call and the file when
     * it returns -1.
     */
    static long call(String name, String file, long nr, Object... args) throws NativeException {
        if (args.length > 6) {
            throw new IllegalArgumentException(name + ": " + args.length + " arguments, a system call takes 6");
        }
        long[] v = new long[6];
        for (int i = 0; i < args.length; i++) {
            v[i] = switch (args[i]) {
                case Integer n -> n;
                case Long n -> n;
                case MemorySegment m -> address(m);
                default -> throw new IllegalArgumentException(name + ": argument " + i + " is a " + args[i].getClass());
            };
        }
        return check(syscall(nr, v[0], v[1], v[2], v[3], v[4], v[5]), name, file);
    }

    /**
     * The address of a native segment to hand to the kernel. A raw address does not keep its
     * arena open the way a downcall's segment argument does, so the segment must be alive now
     * and stay alive across the call: every caller passes memory of its own confined arena or
     * of an object it owns and does not close meanwhile. A closed or heap segment is refused
     * here rather than passed as a dangling or meaningless pointer.
     */
    static long address(MemorySegment m) {
        if (!m.scope().isAlive()) {
            throw new IllegalStateException("segment of a closed arena passed to a system call");
        }
        if (!m.isNative() && !m.equals(MemorySegment.NULL)) {
            throw new IllegalArgumentException("heap segment passed to a system call");
        }
        return m.address();
    }

    /** Throws a {@link NativeException} naming the call when {@code result} is -1. */
    static long check(long result, String call, String file) throws NativeException {
        if (result == -1) {
            throw new NativeException(call, errno(), file);
        }
        return result;
    }
}
