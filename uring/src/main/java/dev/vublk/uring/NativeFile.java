package dev.vublk.uring;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.FileSystemException;
import java.nio.file.Path;

/**
 * An open image or data file with the synchronous calls metadata paths need. The data path goes
 * through {@link IoUring} with {@link #fd()}. Buffers passed here must be native segments.
 */
public final class NativeFile implements AutoCloseable {
    public static final int FALLOC_FL_KEEP_SIZE = 0x01, FALLOC_FL_PUNCH_HOLE = 0x02, FALLOC_FL_ZERO_RANGE = 0x10;
    private static final int O_RDONLY = 0, O_RDWR = 2, O_CREAT = 0x40, O_TRUNC = 0x200, O_DIRECT = 0x4000,
            O_CLOEXEC = 0x80000, O_NOCTTY = 0x100, O_NONBLOCK = 0x800;
    private static final int F_GETFL = 3, F_SETFL = 4;
    private static final int S_IFMT = 0xF000, S_IFBLK = 0x6000, S_IFREG = 0x8000;
    private static final long BLKGETSIZE64 = 0x80081272L;
    private static final long STAT_SIZE = 144, ST_MODE = 24, ST_SIZE = 48, ST_BLOCKS = 64;

    private final int fd;
    private final Path path;
    private final boolean writable;
    private final boolean direct;
    private volatile boolean closed;

    private NativeFile(int fd, Path path, boolean writable, boolean direct) {
        this.fd = fd;
        this.path = path;
        this.writable = writable;
        this.direct = direct;
    }

    /** Opens an existing file or block device. */
    public static NativeFile open(Path path, boolean writable, boolean direct) throws NativeException {
        int flags = (writable ? O_RDWR : O_RDONLY) | (direct ? O_DIRECT : 0) | O_CLOEXEC;
        return new NativeFile(openFd(path, flags, 0), path, writable, direct);
    }

    /**
     * Opens a file only if it is a regular file, without ever waiting: a FIFO would block a plain
     * open until a writer appears, and a device's open can have effects. The open is non-blocking
     * and makes no controlling terminal; {@code fstat} on the descriptor (no window for the path
     * to change) decides, and O_NONBLOCK is cleared again because io_uring honours it on regular
     * files too (reads would fail with EAGAIN instead of waiting for the disk).
     *
     * @throws FileSystemException naming the file type when it is not a regular file
     */
    public static NativeFile openRegular(Path path, boolean writable, boolean direct) throws IOException {
        int flags = (writable ? O_RDWR : O_RDONLY) | (direct ? O_DIRECT : 0) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
        NativeFile f;
        try {
            f = new NativeFile(openFd(path, flags, 0), path, writable, direct);
        } catch (NativeException e) {
            if (e.errno() == Errno.ENXIO) {
                // Only special files answer ENXIO: a socket, a FIFO opened for writing, a device with no driver.
                throw new FileSystemException(path.toString(), null, "is a socket, FIFO or device, not a regular file");
            }
            throw e;
        }
        try {
            int type;
            try (Arena arena = Arena.ofConfined()) {
                type = f.stat(arena).get(ValueLayout.JAVA_INT, ST_MODE) & S_IFMT;
            }
            if (type != S_IFREG) {
                throw new FileSystemException(path.toString(), null, "is " + typeName(type) + ", not a regular file");
            }
            int fl = (int) Libc.call("fcntl(F_GETFL)", path.toString(), Syscalls.FCNTL, f.fd, F_GETFL, 0);
            Libc.call("fcntl(F_SETFL)", path.toString(), Syscalls.FCNTL, f.fd, F_SETFL, fl & ~O_NONBLOCK);
            return f;
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    private static String typeName(int type) {
        return switch (type) {
            case 0x1000 -> "a FIFO";
            case 0x2000 -> "a character device";
            case 0x4000 -> "a directory";
            case S_IFBLK -> "a block device";
            case 0xA000 -> "a symbolic link";
            case 0xC000 -> "a socket";
            default -> "of file type 0" + Integer.toOctalString(type);
        };
    }

    /**
     * Opens this same file again (through /proc/self/fd, so a path renamed or replaced since is not
     * followed), e.g. a second descriptor with O_DIRECT; the new one keeps this one's path for messages.
     */
    public NativeFile reopen(boolean writable, boolean direct) throws NativeException {
        int flags = (writable ? O_RDWR : O_RDONLY) | (direct ? O_DIRECT : 0) | O_CLOEXEC;
        try (Arena arena = Arena.ofConfined()) {
            String link = "/proc/self/fd/" + fd;
            int newFd = (int) Libc.call("open", path.toString(), Syscalls.OPENAT, Syscalls.AT_FDCWD, arena.allocateFrom(link), flags, 0);
            return new NativeFile(newFd, path, writable, direct);
        }
    }

    /**
     * This descriptor's open file description under a second descriptor, switched to O_DIRECT:
     * unlike {@link #reopen}, the description and the {@link OfdLocks} it holds are kept when this
     * descriptor is closed. The flag belongs to the description, so it changes for this
     * descriptor too: close this one once the duplicate exists.
     */
    public NativeFile directDuplicate() throws NativeException {
        int copy = Fds.dup(fd);
        try {
            int fl = (int) Libc.call("fcntl(F_GETFL)", path.toString(), Syscalls.FCNTL, copy, F_GETFL, 0);
            Libc.call("fcntl(F_SETFL, O_DIRECT)", path.toString(), Syscalls.FCNTL, copy, F_SETFL, fl | O_DIRECT);
            return new NativeFile(copy, path, writable, true);
        } catch (NativeException | RuntimeException e) {
            Fds.closeQuietly(copy);
            throw e;
        }
    }

    /** Creates (or truncates) a regular file, mode 0644, open read-write. */
    public static NativeFile create(Path path) throws NativeException {
        return new NativeFile(openFd(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), path, true, false);
    }

    private static int openFd(Path path, int flags, int mode) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            return (int) Libc.call("open", path.toString(), Syscalls.OPENAT, Syscalls.AT_FDCWD, arena.allocateFrom(path.toString()), flags, mode);
        }
    }

    public int fd() { return fd; }

    public Path path() { return path; }

    public boolean writable() { return writable; }

    public boolean direct() { return direct; }

    /** Bytes in the file, or in the block device. */
    public long size() throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = stat(arena);
            if ((st.get(ValueLayout.JAVA_INT, ST_MODE) & S_IFMT) == S_IFBLK) {
                MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG);
                Libc.call("ioctl(BLKGETSIZE64)", path.toString(), Syscalls.IOCTL, fd, BLKGETSIZE64, out);
                return out.get(ValueLayout.JAVA_LONG, 0);
            }
            return st.get(ValueLayout.JAVA_LONG, ST_SIZE);
        }
    }

    /** Bytes the file system has allocated: falls when holes are punched. */
    public long allocatedBytes() throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            return stat(arena).get(ValueLayout.JAVA_LONG, ST_BLOCKS) * 512;
        }
    }

    public boolean isBlockDevice() throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            return (stat(arena).get(ValueLayout.JAVA_INT, ST_MODE) & S_IFMT) == S_IFBLK;
        }
    }

    private MemorySegment stat(Arena arena) throws NativeException {
        MemorySegment st = arena.allocate(STAT_SIZE, 8);
        Libc.call("fstat", path.toString(), Syscalls.FSTAT, fd, st);
        return st;
    }

    /** Reads until {@code dst} is full or end of file; returns the bytes read. */
    public long read(MemorySegment dst, long offset) throws NativeException {
        return transfer(Syscalls.PREAD64, "pread", dst, offset);
    }

    /** pread/pwrite until the buffer is done; a zero return (end of file) stops early. */
    private long transfer(long call, String name, MemorySegment buf, long offset)
            throws NativeException {
        long done = 0;
        while (done < buf.byteSize()) {
            long n = Libc.syscall(call, fd, Libc.address(buf) + done, buf.byteSize() - done, offset + done, 0, 0);
            if (n == 0) {
                break;
            }
            if (n < 0) {
                int errno = Libc.errno();
                if (errno == Errno.EINTR || errno == Errno.EAGAIN) {
                    continue;
                }
                throw new NativeException(name, errno, path.toString());
            }
            done += n;
        }
        return done;
    }

    /** Reads exactly {@code dst.byteSize()} bytes; end of file first is an error. */
    public void readFully(MemorySegment dst, long offset) throws IOException {
        long n = read(dst, offset);
        if (n != dst.byteSize()) {
            throw new EOFException("short read of " + dst.byteSize() + " bytes at offset " + offset
                    + " of " + path + ": end of file after " + n);
        }
    }

    /** Reads {@code length} bytes at {@code offset} into a new array (metadata paths). */
    public byte[] readBytes(long offset, int length) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(Math.max(1, length));
            readFully(buf.asSlice(0, length), offset);
            return buf.asSlice(0, length).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** Writes all of {@code src}. */
    public void write(MemorySegment src, long offset) throws NativeException {
        if (transfer(Syscalls.PWRITE64, "pwrite", src, offset) != src.byteSize()) {
            throw new NativeException("pwrite (no progress)", Errno.EIO, path.toString());
        }
    }

    /** Writes {@code data} at {@code offset} (metadata paths). */
    public void writeBytes(long offset, byte[] data) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(Math.max(1, data.length));
            MemorySegment.copy(data, 0, buf, ValueLayout.JAVA_BYTE, 0, data.length);
            write(buf.asSlice(0, data.length), offset);
        }
    }

    public void fsync() throws NativeException {
        Libc.call("fsync", path.toString(), Syscalls.FSYNC, fd);
    }

    public void fdatasync() throws NativeException {
        Libc.call("fdatasync", path.toString(), Syscalls.FDATASYNC, fd);
    }

    public void truncate(long size) throws NativeException {
        Libc.call("ftruncate", path.toString(), Syscalls.FTRUNCATE, fd, size);
    }

    public void fallocate(int mode, long offset, long length) throws NativeException {
        Libc.call("fallocate", path.toString(), Syscalls.FALLOCATE, fd, mode, offset, length);
    }

    /** Deallocates a range; reads return zeros afterwards. The file size is kept. */
    public void punchHole(long offset, long length) throws NativeException {
        fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
    }

    /** Zeroes a range, allocating it; the file size is kept. */
    public void zeroRange(long offset, long length) throws NativeException {
        fallocate(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, length);
    }

    @Override
    public void close() throws NativeException {
        if (!closed) {
            closed = true;
            Fds.close(fd);
        }
    }
}
