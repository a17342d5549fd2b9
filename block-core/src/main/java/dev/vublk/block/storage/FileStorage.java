package dev.vublk.block.storage;

import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.util.ArrayDeque;

/**
 * A file (or block device) as storage, through the queue's io_uring. Metadata a format reads and
 * writes synchronously at open, close and resize goes through the same {@link #file()}. As a
 * {@link Volume} (a RAW image) closing it closes the file; qcow2 and VHDX, which share the file
 * with their metadata, close the file themselves and never close the storage. With O_DIRECT, {@link #alignment} is
 * what {@link dev.vublk.block.DirectAlignment} probed for it.
 */
public final class FileStorage implements Volume {
    private static final int KEEP = NativeFile.FALLOC_FL_KEEP_SIZE;
    private static final int PUNCH = NativeFile.FALLOC_FL_PUNCH_HOLE | KEEP;
    private static final int ZERO_RANGE = NativeFile.FALLOC_FL_ZERO_RANGE | KEEP;

    private final NativeFile file;
    private final int alignment;

    /**
     * @param alignment the O_DIRECT unit of {@code file}; ignored (1) for a buffered descriptor
     */
    public FileStorage(NativeFile file, int alignment) {
        if (file.direct() && (alignment < 1 || Integer.bitCount(alignment) != 1)) {
            throw new IllegalArgumentException("O_DIRECT alignment " + alignment + " of " + file.path());
        }
        this.file = file;
        this.alignment = file.direct() ? alignment : 1;
    }

    /** A buffered descriptor: any alignment works. */
    public static FileStorage buffered(NativeFile file) {
        return new FileStorage(file, 1);
    }

    public NativeFile file() {
        return file;
    }

    @Override
    public String name() {
        return file.path().toString();
    }

    @Override
    public boolean writable() {
        return file.writable();
    }

    @Override
    public int alignment() {
        return alignment;
    }

    @Override
    public long size() throws IOException {
        return file.size();
    }

    @Override
    public void resize(long newSize) throws IOException {
        if (file.isBlockDevice()) {
            throw new UnsupportedOperationException("a block device cannot be resized");
        }
        file.truncate(newSize);
    }

    @Override
    public void flush() throws IOException {
        if (file.writable()) {
            file.fdatasync();
        }
    }

    @Override
    public void close() throws IOException {
        file.close();
    }

    @Override
    public StorageQueue queue(IoUring ring) {
        return new Queue(ring);
    }

    private static int errno(NativeException e) {
        return -Math.max(1, e.errno());
    }

    private final class Queue implements StorageQueue {
        private final IoUring ring;
        private final int fd = file.fd();
        private final ArrayDeque<ZeroOp> zeroOps = new ArrayDeque<>();

        Queue(IoUring ring) {
            this.ring = ring;
        }

        @Override
        public void readv(long offset, IoVecArray iov, IoCompletion done, long tag) {
            vectored(false, offset, iov, done, tag);
        }

        @Override
        public void writev(long offset, IoVecArray iov, IoCompletion done, long tag) {
            vectored(true, offset, iov, done, tag);
        }

        private void vectored(boolean write, long offset, IoVecArray iov, IoCompletion done, long tag) {
            try {
                if (write) {
                    ring.writev(fd, iov, offset, done, tag);
                } else {
                    ring.readv(fd, iov, offset, done, tag);
                }
            } catch (NativeException e) {
                done.complete(tag, errno(e));
            }
        }

        @Override
        public void read(long offset, long address, int length, IoCompletion done, long tag) {
            plain(false, offset, address, length, done, tag);
        }

        @Override
        public void write(long offset, long address, int length, IoCompletion done, long tag) {
            plain(true, offset, address, length, done, tag);
        }

        private void plain(boolean write, long offset, long address, int length, IoCompletion done, long tag) {
            try {
                if (write) {
                    ring.write(fd, address, length, offset, done, tag);
                } else {
                    ring.read(fd, address, length, offset, done, tag);
                }
            } catch (NativeException e) {
                done.complete(tag, errno(e));
            }
        }

        @Override
        public void flush(IoCompletion done, long tag) {
            try {
                ring.fsync(fd, true, done, tag); // fdatasync: also what finding the data needs, like a grown size
            } catch (NativeException e) {
                done.complete(tag, errno(e));
            }
        }

        @Override
        public void zero(long offset, long length, boolean release, IoCompletion done, long tag) {
            ZeroOp z = zeroOps.isEmpty() ? new ZeroOp() : zeroOps.pop();
            z.start(offset, length, release ? PUNCH : ZERO_RANGE, done, tag);
        }

        /**
         * A fallocate with its one fallback: a file system without ZERO_RANGE (tmpfs) gets a hole,
         * one without holes gets ZERO_RANGE; both read back as zeros.
         */
        private final class ZeroOp implements IoCompletion {
            private long offset, length;
            private int mode;
            private boolean retried;
            private IoCompletion done;
            private long tag;

            void start(long offset, long length, int mode, IoCompletion done, long tag) {
                this.offset = offset;
                this.length = length;
                this.mode = mode;
                this.retried = false;
                this.done = done;
                this.tag = tag;
                submit();
            }

            private void submit() {
                try {
                    ring.fallocate(fd, mode, offset, length, this, 0);
                } catch (NativeException e) {
                    complete(0, errno(e));
                }
            }

            @Override
            public void complete(long ignored, int result) {
                if (result == -Errno.ENOTSUP && !retried) {
                    retried = true;
                    mode = mode == ZERO_RANGE ? PUNCH : ZERO_RANGE;
                    submit();
                    return;
                }
                IoCompletion d = done;
                long t = tag;
                done = null;
                zeroOps.push(this);
                d.complete(t, result);
            }
        }
    }
}
