package dev.vublk.uring;

import java.io.IOException;

/** A failed system call: names the call, the errno and, where there is one, the file. */
public final class NativeException extends IOException {
    private final String call;
    private final int errno;
    private final String file;

    public NativeException(String call, int errno, String file) {
        super(call + " failed: " + Errno.name(errno) + " (" + Errno.describe(errno) + ")"
                + (file == null ? "" : " on " + file));
        this.call = call;
        this.errno = errno;
        this.file = file;
    }

    public NativeException(String call, int errno) {
        this(call, errno, null);
    }

    public String call() { return call; }

    public int errno() { return errno; }

    public String errnoName() { return Errno.name(errno); }

    public String file() { return file; }
}
