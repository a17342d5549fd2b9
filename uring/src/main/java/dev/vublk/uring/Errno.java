package dev.vublk.uring;

/** Linux x86_64 errno values the project handles by name. */
public final class Errno {
    public static final int EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, EBADF = 9,
            EAGAIN = 11, ENOMEM = 12, EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17, ENODEV = 19,
            ENOTDIR = 20, EISDIR = 21, EINVAL = 22, EMFILE = 24, ENOTTY = 25, EFBIG = 27, ENOSPC = 28,
            ESPIPE = 29, EROFS = 30, EPIPE = 32, ERANGE = 34, ENAMETOOLONG = 36, ENOSYS = 38, ETIME = 62,
            EOVERFLOW = 75, ENOTSUP = 95,
            EADDRINUSE = 98, ECONNRESET = 104, ENOTCONN = 107, ESHUTDOWN = 108,
            ETIMEDOUT = 110, ECONNREFUSED = 111, EINPROGRESS = 115, EDQUOT = 122, ECANCELED = 125;

    /**
     * Whether {@code errno} (either sign) says the file system has no room for the write: out of
     * space, or the owner's quota used up. Both pass once space is freed, so they share one policy.
     */
    public static boolean isNoSpace(int errno) {
        int e = Math.abs(errno);
        return e == ENOSPC || e == EDQUOT;
    }

    private static final String[] NAMES = new String[134];

    static {
        String[][] table = {
            {"1", "EPERM"}, {"2", "ENOENT"}, {"3", "ESRCH"}, {"4", "EINTR"}, {"5", "EIO"}, {"6", "ENXIO"},
            {"7", "E2BIG"}, {"8", "ENOEXEC"}, {"9", "EBADF"}, {"10", "ECHILD"}, {"11", "EAGAIN"},
            {"12", "ENOMEM"}, {"13", "EACCES"}, {"14", "EFAULT"}, {"16", "EBUSY"}, {"17", "EEXIST"},
            {"18", "EXDEV"}, {"19", "ENODEV"}, {"20", "ENOTDIR"}, {"21", "EISDIR"}, {"22", "EINVAL"},
            {"23", "ENFILE"}, {"24", "EMFILE"}, {"25", "ENOTTY"}, {"26", "ETXTBSY"}, {"27", "EFBIG"},
            {"28", "ENOSPC"}, {"29", "ESPIPE"}, {"30", "EROFS"}, {"31", "EMLINK"}, {"32", "EPIPE"},
            {"34", "ERANGE"}, {"36", "ENAMETOOLONG"}, {"38", "ENOSYS"}, {"39", "ENOTEMPTY"},
            {"40", "ELOOP"}, {"61", "ENODATA"}, {"62", "ETIME"}, {"75", "EOVERFLOW"}, {"88", "ENOTSOCK"}, {"95", "EOPNOTSUPP"},
            {"97", "EAFNOSUPPORT"}, {"98", "EADDRINUSE"}, {"103", "ECONNABORTED"}, {"104", "ECONNRESET"},
            {"107", "ENOTCONN"}, {"108", "ESHUTDOWN"}, {"110", "ETIMEDOUT"}, {"111", "ECONNREFUSED"}, {"115", "EINPROGRESS"}, {"122", "EDQUOT"},
            {"125", "ECANCELED"},
        };
        for (String[] row : table) {
            NAMES[Integer.parseInt(row[0])] = row[1];
        }
    }

    private Errno() {}

    /** The symbolic name, e.g. {@code EBADF}; unknown values read {@code errno 200}. */
    public static String name(int errno) {
        int e = Math.abs(errno);
        return e < NAMES.length && NAMES[e] != null ? NAMES[e] : "errno " + e;
    }

    /** The C library's description of the errno. */
    public static String describe(int errno) {
        return Libc.strerror(Math.abs(errno));
    }
}
