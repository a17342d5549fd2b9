package dev.vublk.uring;

/**
 * Linux system call numbers of the machine this runs on. Every kernel call of this module goes
 * through libc's {@code syscall()} with one downcall handle ({@link Libc#SYSCALL}) instead of
 * one handle per libc wrapper: linking a downcall spins a class per distinct signature, which
 * cost a third of a second of every backend's start for 38 wrappers. Only the calls both
 * x86_64 and the generic table (aarch64) have are used: the {@code *at} forms with
 * {@link #AT_FDCWD} rather than open/unlink/chmod, {@code ppoll} rather than poll, {@code
 * sendto} rather than send, {@code eventfd2} rather than eventfd. The numbers are the kernel's
 * ABI ({@code asm/unistd_64.h}, {@code asm-generic/unistd.h}); {@code SyscallsTest} checks the
 * x86_64 ones against the installed header.
 */
final class Syscalls {
    /** The "current directory" fd of the {@code *at} calls. */
    static final long AT_FDCWD = -100;

    static final long READ;
    static final long WRITE;
    static final long CLOSE;
    static final long FSTAT;
    static final long MMAP;
    static final long MUNMAP;
    static final long IOCTL;
    static final long PREAD64;
    static final long PWRITE64;
    static final long DUP;
    static final long SOCKET;
    static final long CONNECT;
    static final long SENDTO;
    static final long SENDMSG;
    static final long RECVMSG;
    static final long SHUTDOWN;
    static final long BIND;
    static final long LISTEN;
    static final long SOCKETPAIR;
    static final long SETSOCKOPT;
    static final long GETSOCKOPT;
    static final long KILL;
    static final long FCNTL;
    static final long FSYNC;
    static final long FDATASYNC;
    static final long FTRUNCATE;
    static final long OPENAT;
    static final long UNLINKAT;
    static final long FCHMODAT;
    static final long PPOLL;
    static final long FALLOCATE;
    static final long ACCEPT4;
    static final long EVENTFD2;
    static final long PIPE2;
    static final long MEMFD_CREATE;
    /** The io_uring calls have the same numbers everywhere. */
    static final long IO_URING_SETUP = 425;
    static final long IO_URING_ENTER = 426;
    static final long IO_URING_REGISTER = 427;

    static {
        String arch = System.getProperty("os.arch");
        long[] n = switch (arch) {
            case "amd64", "x86_64" -> new long[] {
                0, 1, 3, 5, 9, 11, 16, 17, 18, 32, 41, 42, 44, 46, 47, 48, 49, 50, 53, 54, 55, 62,
                72, 74, 75, 77, 257, 263, 268, 271, 285, 288, 290, 293, 319};
            case "aarch64" -> new long[] {
                63, 64, 57, 80, 222, 215, 29, 67, 68, 23, 198, 203, 206, 211, 212, 210, 200, 201, 199, 208, 209, 129,
                25, 82, 83, 46, 56, 35, 53, 73, 47, 242, 19, 59, 279};
            default -> throw new ExceptionInInitializerError(
                    "no system call table for architecture " + arch + " (x86_64 and aarch64 are known)");
        };
        int i = 0;
        READ = n[i++];
        WRITE = n[i++];
        CLOSE = n[i++];
        FSTAT = n[i++];
        MMAP = n[i++];
        MUNMAP = n[i++];
        IOCTL = n[i++];
        PREAD64 = n[i++];
        PWRITE64 = n[i++];
        DUP = n[i++];
        SOCKET = n[i++];
        CONNECT = n[i++];
        SENDTO = n[i++];
        SENDMSG = n[i++];
        RECVMSG = n[i++];
        SHUTDOWN = n[i++];
        BIND = n[i++];
        LISTEN = n[i++];
        SOCKETPAIR = n[i++];
        SETSOCKOPT = n[i++];
        GETSOCKOPT = n[i++];
        KILL = n[i++];
        FCNTL = n[i++];
        FSYNC = n[i++];
        FDATASYNC = n[i++];
        FTRUNCATE = n[i++];
        OPENAT = n[i++];
        UNLINKAT = n[i++];
        FCHMODAT = n[i++];
        PPOLL = n[i++];
        FALLOCATE = n[i++];
        ACCEPT4 = n[i++];
        EVENTFD2 = n[i++];
        PIPE2 = n[i++];
        MEMFD_CREATE = n[i];
    }

    private Syscalls() {}
}
