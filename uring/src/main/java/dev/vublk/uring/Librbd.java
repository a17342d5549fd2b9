package dev.vublk.uring;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * Ceph's librados and librbd C API (Debian's {@code librados.so.2}, {@code librbd.so.1}) as Java
 * methods. Handles ({@code rados_t}, {@code rados_ioctx_t}, {@code rbd_image_t},
 * {@code rbd_completion_t}) are plain addresses. The libraries report errors as negative errno
 * return values, not through errno: each failure becomes a {@link NativeException} naming the
 * call, the errno and the object (pool, image). The libraries load on first use, so a process
 * that never opens an RBD image never needs them.
 */
public final class Librbd {
    /** {@code rbd_callback_t}: {@code void (*)(rbd_completion_t c, void *arg)}. */
    public static final FunctionDescriptor CALLBACK = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS);

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBS = SymbolLookup.libraryLookup("librados.so.2", Arena.global())
            .or(SymbolLookup.libraryLookup("librbd.so.1", Arena.global()));

    private static final MethodHandle RADOS_CREATE2 = handle("rados_create2", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle RADOS_CONF_READ_FILE = handle("rados_conf_read_file", JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle RADOS_CONF_SET = handle("rados_conf_set", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle RADOS_CONNECT = handle("rados_connect", JAVA_INT, ADDRESS);
    private static final MethodHandle RADOS_SHUTDOWN = voidHandle("rados_shutdown", ADDRESS);
    private static final MethodHandle IOCTX_CREATE = handle("rados_ioctx_create", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle IOCTX_SET_NAMESPACE = voidHandle("rados_ioctx_set_namespace", ADDRESS, ADDRESS);
    private static final MethodHandle IOCTX_DESTROY = voidHandle("rados_ioctx_destroy", ADDRESS);
    private static final MethodHandle OPEN = handle("rbd_open", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle OPEN_READ_ONLY = handle("rbd_open_read_only", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle CLOSE = handle("rbd_close", JAVA_INT, ADDRESS);
    private static final MethodHandle GET_SIZE = handle("rbd_get_size", JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle RESIZE = handle("rbd_resize", JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle GET_FEATURES = handle("rbd_get_features", JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle FLUSH = handle("rbd_flush", JAVA_INT, ADDRESS);
    private static final MethodHandle IS_LOCK_OWNER = handle("rbd_is_exclusive_lock_owner", JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle AIO_CREATE_COMPLETION =
            handle("rbd_aio_create_completion", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle AIO_GET_RETURN_VALUE = handle("rbd_aio_get_return_value", JAVA_LONG, ADDRESS);
    private static final MethodHandle AIO_RELEASE = voidHandle("rbd_aio_release", ADDRESS);
    private static final MethodHandle AIO_READV = handle("rbd_aio_readv", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS);
    private static final MethodHandle AIO_WRITEV = handle("rbd_aio_writev", JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS);
    private static final MethodHandle AIO_FLUSH = handle("rbd_aio_flush", JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle AIO_DISCARD = handle("rbd_aio_discard", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS);
    private static final MethodHandle AIO_WRITE_ZEROES =
            handle("rbd_aio_write_zeroes", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_INT, JAVA_INT);

    private Librbd() {}

    private static MethodHandle handle(String name, java.lang.foreign.MemoryLayout result,
                                       java.lang.foreign.MemoryLayout... args) {
        return LINKER.downcallHandle(symbol(name), FunctionDescriptor.of(result, args));
    }

    private static MethodHandle voidHandle(String name, java.lang.foreign.MemoryLayout... args) {
        return LINKER.downcallHandle(symbol(name), FunctionDescriptor.ofVoid(args));
    }

    private static MemorySegment symbol(String name) {
        return LIBS.find(name).orElseThrow(() -> new UnsatisfiedLinkError(name + " not found in librados/librbd"));
    }

    private static MemorySegment ptr(long address) {
        return MemorySegment.ofAddress(address);
    }

    /** Throws for a negative return value (a negative errno), else returns it. */
    private static long check(long result, String call, String what) throws NativeException {
        if (result < 0) {
            throw new NativeException(call, (int) -result, what);
        }
        return result;
    }

    private static long invoke(MethodHandle handle, Object... args) {
        try {
            Object r = handle.invokeWithArguments(args);
            return r instanceof Integer i ? i : r instanceof Long l ? l : 0;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    // ---- cluster and pool (control path) ----------------------------------------------------

    /** {@code rados_create2} for cluster "ceph" and the entity {@code client.ID}. */
    public static long radosCreate(String entity) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check(invoke(RADOS_CREATE2, out, arena.allocateFrom("ceph"), arena.allocateFrom(entity), 0L),
                    "rados_create2", entity);
            return out.get(ADDRESS, 0).address();
        }
    }

    /** Reads a ceph.conf; {@code path} null reads Ceph's default search path. */
    public static void confReadFile(long cluster, String path) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = path == null ? MemorySegment.NULL : arena.allocateFrom(path);
            check(invoke(RADOS_CONF_READ_FILE, ptr(cluster), p), "rados_conf_read_file", path);
        }
    }

    public static void confSet(long cluster, String option, String value) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            check(invoke(RADOS_CONF_SET, ptr(cluster), arena.allocateFrom(option), arena.allocateFrom(value)),
                    "rados_conf_set", option + "=" + value);
        }
    }

    public static void connect(long cluster) throws NativeException {
        check(invoke(RADOS_CONNECT, ptr(cluster)), "rados_connect", null);
    }

    public static void shutdown(long cluster) {
        invoke(RADOS_SHUTDOWN, ptr(cluster));
    }

    public static long ioctxCreate(long cluster, String pool) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check(invoke(IOCTX_CREATE, ptr(cluster), arena.allocateFrom(pool), out), "rados_ioctx_create", "pool " + pool);
            return out.get(ADDRESS, 0).address();
        }
    }

    public static void ioctxSetNamespace(long ioctx, String namespace) {
        try (Arena arena = Arena.ofConfined()) {
            invoke(IOCTX_SET_NAMESPACE, ptr(ioctx), arena.allocateFrom(namespace));
        }
    }

    public static void ioctxDestroy(long ioctx) {
        invoke(IOCTX_DESTROY, ptr(ioctx));
    }

    // ---- image (control path) ---------------------------------------------------------------

    /**
     * Opens an image, at {@code snapshot} when not null. Read-only opens take no watch-based
     * exclusive lock and refuse writes with EROFS.
     */
    public static long open(long ioctx, String name, String snapshot, boolean readOnly) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            MemorySegment snap = snapshot == null ? MemorySegment.NULL : arena.allocateFrom(snapshot);
            String call = readOnly ? "rbd_open_read_only" : "rbd_open";
            check(invoke(readOnly ? OPEN_READ_ONLY : OPEN, ptr(ioctx), arena.allocateFrom(name), out, snap),
                    call, "image " + name + (snapshot == null ? "" : "@" + snapshot));
            return out.get(ADDRESS, 0).address();
        }
    }

    public static void close(long image) throws NativeException {
        check(invoke(CLOSE, ptr(image)), "rbd_close", null);
    }

    public static long size(long image) throws NativeException {
        return outLong(GET_SIZE, "rbd_get_size", image);
    }

    public static long features(long image) throws NativeException {
        return outLong(GET_FEATURES, "rbd_get_features", image);
    }

    public static void resize(long image, long size) throws NativeException {
        check(invoke(RESIZE, ptr(image), size), "rbd_resize", null);
    }

    public static void flush(long image) throws NativeException {
        check(invoke(FLUSH, ptr(image)), "rbd_flush", null);
    }

    /** Whether this handle holds the image's exclusive lock now. */
    public static boolean isExclusiveLockOwner(long image) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check(invoke(IS_LOCK_OWNER, ptr(image), out), "rbd_is_exclusive_lock_owner", null);
            return out.get(JAVA_INT, 0) != 0;
        }
    }

    private static long outLong(MethodHandle handle, String call, long image) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            check(invoke(handle, ptr(image), out), call, null);
            return out.get(JAVA_LONG, 0);
        }
    }

    // ---- asynchronous I/O (queue threads; exact invokes, no boxing) -------------------------

    /**
     * A completion whose {@code callback} (an upcall stub of {@link #CALLBACK}) librbd calls on
     * one of its own threads with {@code arg}. {@code out} is 8 bytes of scratch memory.
     */
    public static long createCompletion(long arg, MemorySegment callback, MemorySegment out) throws NativeException {
        int r;
        try {
            r = (int) AIO_CREATE_COMPLETION.invokeExact(ptr(arg), callback, out);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
        check(r, "rbd_aio_create_completion", null);
        return out.get(JAVA_LONG, 0);
    }

    /** The finished operation's result: bytes read, 0 or the length written, or a negative errno. */
    public static long returnValue(long completion) {
        try {
            return (long) AIO_GET_RETURN_VALUE.invokeExact(ptr(completion));
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public static void release(long completion) {
        try {
            AIO_RELEASE.invokeExact(ptr(completion));
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Starts a vectored read or write; returns 0 or a negative errno (then no callback comes). */
    public static int aioVectored(boolean write, long image, long iovecs, int count, long offset, long completion) {
        try {
            return write
                    ? (int) AIO_WRITEV.invokeExact(ptr(image), ptr(iovecs), count, offset, ptr(completion))
                    : (int) AIO_READV.invokeExact(ptr(image), ptr(iovecs), count, offset, ptr(completion));
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public static int aioFlush(long image, long completion) {
        try {
            return (int) AIO_FLUSH.invokeExact(ptr(image), ptr(completion));
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public static int aioDiscard(long image, long offset, long length, long completion) {
        try {
            return (int) AIO_DISCARD.invokeExact(ptr(image), offset, length, ptr(completion));
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public static int aioWriteZeroes(long image, long offset, long length, long completion) {
        try {
            return (int) AIO_WRITE_ZEROES.invokeExact(ptr(image), offset, length, ptr(completion), 0, 0);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }
}
