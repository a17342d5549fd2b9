package dev.vublk.uring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * One io_uring instance, driven by a single thread. Operations are prepared into the submission
 * queue and go to the kernel in one {@code io_uring_enter} per batch; each finished operation is
 * handed to the {@link IoCompletion} it was prepared with.
 *
 * <p>The ring finishes what the kernel may leave half done: a short read or write is resubmitted
 * for the rest, {@code -EAGAIN}/{@code -EINTR} are retried, and a full submission queue is
 * submitted and reused rather than refused. Per-operation state lives in slot arrays indexed by
 * the SQE's user data, so steady-state operation allocates nothing.
 */
public final class IoUring implements AutoCloseable {
    private static final long SYS_IO_URING_SETUP = Syscalls.IO_URING_SETUP, SYS_IO_URING_ENTER = Syscalls.IO_URING_ENTER,
            SYS_IO_URING_REGISTER = Syscalls.IO_URING_REGISTER;
    private static final int SETUP_CLAMP = 1 << 4, SETUP_SUBMIT_ALL = 1 << 7, SETUP_COOP_TASKRUN = 1 << 8,
            SETUP_SINGLE_ISSUER = 1 << 12, SETUP_DEFER_TASKRUN = 1 << 13;
    private static final int FEAT_SINGLE_MMAP = 1, FEAT_NODROP = 1 << 1;
    private static final long OFF_SQ_RING = 0, OFF_SQES = 0x10000000L;
    private static final int ENTER_GETEVENTS = 1;
    private static final int REGISTER_FILES = 2, UNREGISTER_FILES = 3;
    private static final long SQE_SIZE = 64, CQE_SIZE = 16, PARAMS_SIZE = 120;

    static final byte OP_NOP = 0, OP_READV = 1, OP_WRITEV = 2, OP_FSYNC = 3, OP_POLL_ADD = 6,
            OP_TIMEOUT = 11, OP_ASYNC_CANCEL = 14, OP_FALLOCATE = 17, OP_READ = 22, OP_WRITE = 23, OP_RECV = 27;
    private static final int FSYNC_DATASYNC = 1;
    public static final int POLLIN = 0x1;

    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();

    private final int ringFd;
    private final int sqEntries;
    private final int cqEntries;
    private final MappedRegion ringMap;
    private final MappedRegion sqeMap;
    private final MemorySegment ring;
    private final MemorySegment sqes;
    private final long sqHead, sqTail, cqHead, cqTail, cqes;
    private final int sqMask, cqMask;
    private int localTail;
    private int unsubmitted;
    private boolean closed;

    // Per-operation slots; the index is the SQE's user data.
    private IoCompletion[] handlers;
    private long[] tags;
    private byte[] opcodes;
    private int[] fds;
    private long[] addrs;     // buffer address, or iovec array address
    private int[] lens;       // buffer length, iovec count, fallocate mode
    private long[] offsets;   // file offset (fallocate keeps its length in addrs)
    private long[] remaining; // bytes still to transfer
    private long[] done;      // bytes transferred so far
    private int[] opFlags;
    private int[] freeSlots;
    private int freeCount;
    private int inFlight;

    /** A ring usable from any one thread at a time. */
    public IoUring(int entries) throws NativeException {
        this(entries, false);
    }

    /**
     * @param singleIssuer when true the ring is bound to the creating thread and the kernel runs
     *     completion work only when that thread waits (DEFER_TASKRUN): fewer interrupts for a
     *     queue thread that owns its ring. Falls back to a plain ring on older kernels.
     */
    public IoUring(int entries, boolean singleIssuer) throws NativeException {
        if (entries < 1 || entries > 32768) {
            throw new IllegalArgumentException("io_uring entries " + entries);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = arena.allocate(PARAMS_SIZE, 8);
            int fd = setup(entries, params, singleIssuer
                    ? SETUP_CLAMP | SETUP_SUBMIT_ALL | SETUP_COOP_TASKRUN | SETUP_SINGLE_ISSUER | SETUP_DEFER_TASKRUN
                    : SETUP_CLAMP | SETUP_SUBMIT_ALL | SETUP_COOP_TASKRUN);
            if (fd < 0) {
                fd = setup(entries, params, SETUP_CLAMP);
            }
            if (fd < 0) {
                throw new NativeException("io_uring_setup", -fd);
            }
            ringFd = fd;
            int features = params.get(ValueLayout.JAVA_INT, 20);
            if ((features & FEAT_SINGLE_MMAP) == 0 || (features & FEAT_NODROP) == 0) {
                Fds.closeQuietly(fd);
                throw new NativeException("io_uring_setup (kernel lacks SINGLE_MMAP/NODROP, needs 5.5+)", Errno.ENOSYS);
            }
            sqEntries = params.get(ValueLayout.JAVA_INT, 0);
            cqEntries = params.get(ValueLayout.JAVA_INT, 4);
            long sqOff = 40, cqOff = 80;
            sqHead = params.get(ValueLayout.JAVA_INT, sqOff);
            sqTail = params.get(ValueLayout.JAVA_INT, sqOff + 4);
            long sqArray = params.get(ValueLayout.JAVA_INT, sqOff + 24);
            cqHead = params.get(ValueLayout.JAVA_INT, cqOff);
            cqTail = params.get(ValueLayout.JAVA_INT, cqOff + 4);
            cqes = params.get(ValueLayout.JAVA_INT, cqOff + 20);
            long ringSize = Math.max(sqArray + 4L * sqEntries, cqes + CQE_SIZE * cqEntries);
            MappedRegion ringRegion = null;
            try {
                ringRegion = MappedRegion.map(fd, OFF_SQ_RING, ringSize, true);
                sqeMap = MappedRegion.map(fd, OFF_SQES, SQE_SIZE * sqEntries, true);
            } catch (NativeException e) {
                if (ringRegion != null) {
                    ringRegion.close();
                }
                Fds.closeQuietly(fd);
                throw e;
            }
            ringMap = ringRegion;
            ring = ringMap.segment();
            sqes = sqeMap.segment();
            sqMask = ring.get(ValueLayout.JAVA_INT, params.get(ValueLayout.JAVA_INT, sqOff + 8));
            cqMask = ring.get(ValueLayout.JAVA_INT, params.get(ValueLayout.JAVA_INT, cqOff + 8));
            for (int i = 0; i < sqEntries; i++) {
                ring.set(ValueLayout.JAVA_INT, sqArray + 4L * i, i); // SQ array is the identity map
            }
            localTail = (int) INT.getAcquire(ring, sqTail);
        }
        growSlots(cqEntries);
    }

    private static int setup(int entries, MemorySegment params, int flags) {
        params.fill((byte) 0);
        params.set(ValueLayout.JAVA_INT, 8, flags);
        return (int) syscall(SYS_IO_URING_SETUP, entries, params.address(), 0, 0, 0, 0);
    }

    private static long syscall(long nr, long a, long b, long c, long d, long e, long f) {
        long r = Libc.syscall(nr, a, b, c, d, e, f);
        return r == -1 ? -Libc.errno() : r;
    }

    public int submissionEntries() { return sqEntries; }

    public int completionEntries() { return cqEntries; }

    /** Operations prepared or running whose completion has not been delivered yet. */
    public int inFlight() { return inFlight; }

    // ---- preparation ------------------------------------------------------------------------

    public void read(int fd, long address, int length, long offset, IoCompletion handler, long tag) throws NativeException {
        prepare(OP_READ, fd, address, length, offset, length, 0, handler, tag);
    }

    public void write(int fd, long address, int length, long offset, IoCompletion handler, long tag) throws NativeException {
        prepare(OP_WRITE, fd, address, length, offset, length, 0, handler, tag);
    }

    /**
     * {@code recv(fd, address, length, 0)} on a socket: completes with whatever the socket holds
     * (at least one byte, 0 at end of stream), not the whole length, unlike {@link #read}. For
     * reading a stream of messages in batches into a buffer of one's own.
     */
    public void receive(int fd, long address, int length, IoCompletion handler, long tag) throws NativeException {
        prepare(OP_RECV, fd, address, length, 0, length, 0, handler, tag);
    }

    /** Vectored read into {@code iov}'s buffers; the entries may be advanced in place. */
    public void readv(int fd, IoVecArray iov, long offset, IoCompletion handler, long tag) throws NativeException {
        prepare(OP_READV, fd, iov.nativeAddress(), iov.count(), offset, iov.totalBytes(), 0, handler, tag);
    }

    /** Vectored write from {@code iov}'s buffers; the entries may be advanced in place. */
    public void writev(int fd, IoVecArray iov, long offset, IoCompletion handler, long tag) throws NativeException {
        prepare(OP_WRITEV, fd, iov.nativeAddress(), iov.count(), offset, iov.totalBytes(), 0, handler, tag);
    }

    public void fsync(int fd, boolean dataOnly, IoCompletion handler, long tag) throws NativeException {
        prepare(OP_FSYNC, fd, 0, 0, 0, 0, dataOnly ? FSYNC_DATASYNC : 0, handler, tag);
    }

    /** {@code fallocate(fd, mode, offset, length)}: see {@link NativeFile} for the modes. */
    public void fallocate(int fd, int mode, long offset, long length, IoCompletion handler, long tag) throws NativeException {
        prepare(OP_FALLOCATE, fd, length, mode, offset, 0, 0, handler, tag);
    }

    /** One-shot poll for {@code events} (e.g. {@link #POLLIN}); the result is the ready mask. */
    public void pollAdd(int fd, int events, IoCompletion handler, long tag) throws NativeException {
        prepare(OP_POLL_ADD, fd, 0, 0, 0, 0, events, handler, tag);
    }

    /**
     * A timer: completes with {@code -ETIME} after {@code nanos}, or {@code -ECANCELED} when
     * {@link #cancel}led. {@code spec} (16 native bytes, a {@code struct __kernel_timespec}) is
     * the caller's and must stay alive until the completion. Returns the operation's id for
     * {@link #cancel}, valid until the completion is delivered.
     */
    public int timeout(MemorySegment spec, long nanos, IoCompletion handler, long tag) throws NativeException {
        if (!spec.isNative() || spec.byteSize() < 16 || nanos < 0) {
            throw new IllegalArgumentException("timespec of " + spec.byteSize() + " bytes for " + nanos + " ns");
        }
        spec.set(ValueLayout.JAVA_LONG, 0, nanos / 1_000_000_000L);
        spec.set(ValueLayout.JAVA_LONG, 8, nanos % 1_000_000_000L);
        return prepare(OP_TIMEOUT, -1, spec.address(), 1, 0, 0, 0, handler, tag);
    }

    /**
     * Asks the kernel to cancel the operation {@code id} (from {@link #timeout}) that has not
     * completed yet; it then completes with {@code -ECANCELED}. This request completes by itself
     * with 0, or -ENOENT/-EALREADY when the target was already done.
     */
    public void cancel(int id, IoCompletion handler, long tag) throws NativeException {
        prepare(OP_ASYNC_CANCEL, -1, id, 0, 0, 0, 0, handler, tag);
    }

    public void nop(IoCompletion handler, long tag) throws NativeException {
        prepare(OP_NOP, -1, 0, 0, 0, 0, 0, handler, tag);
    }

    private int prepare(byte op, int fd, long addr, int len, long offset, long bytes, int flags,
                        IoCompletion handler, long tag) throws NativeException {
        if (closed) {
            throw new NativeException("io_uring prepare", Errno.EBADF);
        }
        if (freeCount == 0) {
            growSlots(handlers.length * 2);
        }
        int slot = freeSlots[--freeCount];
        handlers[slot] = handler;
        tags[slot] = tag;
        opcodes[slot] = op;
        fds[slot] = fd;
        addrs[slot] = addr;
        lens[slot] = len;
        offsets[slot] = offset;
        remaining[slot] = bytes;
        done[slot] = 0;
        opFlags[slot] = flags;
        inFlight++;
        queue(slot);
        return slot;
    }

    private void growSlots(int capacity) {
        int old = handlers == null ? 0 : handlers.length;
        handlers = handlers == null ? new IoCompletion[capacity] : Arrays.copyOf(handlers, capacity);
        tags = tags == null ? new long[capacity] : Arrays.copyOf(tags, capacity);
        opcodes = opcodes == null ? new byte[capacity] : Arrays.copyOf(opcodes, capacity);
        fds = fds == null ? new int[capacity] : Arrays.copyOf(fds, capacity);
        addrs = addrs == null ? new long[capacity] : Arrays.copyOf(addrs, capacity);
        lens = lens == null ? new int[capacity] : Arrays.copyOf(lens, capacity);
        offsets = offsets == null ? new long[capacity] : Arrays.copyOf(offsets, capacity);
        remaining = remaining == null ? new long[capacity] : Arrays.copyOf(remaining, capacity);
        done = done == null ? new long[capacity] : Arrays.copyOf(done, capacity);
        opFlags = opFlags == null ? new int[capacity] : Arrays.copyOf(opFlags, capacity);
        int[] free = new int[capacity];
        System.arraycopy(freeSlots == null ? new int[0] : freeSlots, 0, free, 0, freeCount);
        for (int s = capacity - 1; s >= old; s--) {
            free[freeCount++] = s;
        }
        freeSlots = free;
    }

    /** Writes slot's operation into the next SQE, submitting first if the queue is full. */
    private void queue(int slot) throws NativeException {
        while (unsubmitted == sqEntries) {
            submit();
        }
        long sqe = SQE_SIZE * (localTail & sqMask);
        for (long at = 40; at < SQE_SIZE; at += 8) {
            sqes.set(ValueLayout.JAVA_LONG, sqe + at, 0L); // buf_index, personality, splice fd, addr3, pad
        }
        sqes.set(ValueLayout.JAVA_INT, sqe, 0); // opcode, flags, ioprio
        sqes.set(ValueLayout.JAVA_BYTE, sqe, opcodes[slot]);
        sqes.set(ValueLayout.JAVA_INT, sqe + 4, fds[slot]);
        sqes.set(ValueLayout.JAVA_LONG, sqe + 8, offsets[slot]);
        sqes.set(ValueLayout.JAVA_LONG, sqe + 16, addrs[slot]);
        sqes.set(ValueLayout.JAVA_INT, sqe + 24, lens[slot]);
        sqes.set(ValueLayout.JAVA_INT, sqe + 28, opFlags[slot]);
        sqes.set(ValueLayout.JAVA_LONG, sqe + 32, slot);
        localTail++;
        unsubmitted++;
    }

    // ---- submission and completion ----------------------------------------------------------

    /** Hands every prepared operation to the kernel; returns how many it took. */
    public int submit() throws NativeException {
        return enter(0);
    }

    /**
     * Submits what is prepared, waits until at least one completion is ready, and delivers all
     * ready completions. Returns the number delivered: at least one, or 0 at once when nothing
     * is in flight (waiting then would never end).
     */
    public int submitAndWait() throws NativeException {
        int delivered = processCompletions();
        if (delivered > 0) {
            submit();
            return delivered;
        }
        // A completion that only resubmits the rest of a short transfer delivers nothing: wait on.
        while (delivered == 0 && inFlight > 0) {
            enter(1);
            delivered = processCompletions();
        }
        return delivered;
    }

    private int enter(int waitFor) throws NativeException {
        int submitted = 0;
        while (true) {
            if (unsubmitted > 0) {
                INT.setRelease(ring, sqTail, localTail);
            }
            if (unsubmitted == 0 && waitFor == 0) {
                return submitted;
            }
            long r = syscall(SYS_IO_URING_ENTER, ringFd, unsubmitted, waitFor,
                    waitFor > 0 ? ENTER_GETEVENTS : 0, 0, 0);
            if (r >= 0) {
                unsubmitted -= (int) r;
                submitted += (int) r;
                if (unsubmitted == 0) {
                    return submitted;
                }
                if (r == 0 && waitFor == 0) {
                    processCompletions(); // the kernel takes no more until completions are reaped
                }
                continue;
            }
            int errno = (int) -r;
            if (errno == Errno.EINTR) {
                continue;
            }
            if (errno == Errno.EAGAIN || errno == Errno.EBUSY) {
                // Completion queue backpressure: make room by delivering what is done.
                if (processCompletions() == 0) {
                    syscall(SYS_IO_URING_ENTER, ringFd, 0, 1, ENTER_GETEVENTS, 0, 0);
                }
                continue;
            }
            throw new NativeException("io_uring_enter", errno);
        }
    }

    /** Delivers every completion that is ready, without waiting. Safe to call from a handler. */
    public int processCompletions() throws NativeException {
        int count = 0;
        while (true) {
            int head = (int) INT.getAcquire(ring, cqHead);
            int tail = (int) INT.getAcquire(ring, cqTail);
            if (head == tail) {
                return count;
            }
            long cqe = cqes + CQE_SIZE * (head & cqMask);
            int slot = (int) ring.get(ValueLayout.JAVA_LONG, cqe);
            int res = ring.get(ValueLayout.JAVA_INT, cqe + 8);
            INT.setRelease(ring, cqHead, head + 1);
            if (finish(slot, res)) {
                count++;
            }
        }
    }

    /** Delivers the slot's completion, or requeues what is left of it and returns false. */
    private boolean finish(int slot, int res) throws NativeException {
        if (res == -Errno.EAGAIN || res == -Errno.EINTR) {
            queue(slot);
            return false;
        }
        byte op = opcodes[slot];
        boolean transfer = op == OP_READ || op == OP_WRITE || op == OP_READV || op == OP_WRITEV;
        if (transfer && res > 0 && res < remaining[slot]) {
            done[slot] += res;
            remaining[slot] -= res;
            // Sockets and pipes refuse a non-zero offset (ESPIPE): only files move on.
            if (offsets[slot] != -1 && takesOffset(fds[slot])) {
                offsets[slot] += res;
            }
            if (op == OP_READV || op == OP_WRITEV) {
                advanceIovecs(slot, res);
            } else {
                addrs[slot] += res;
                lens[slot] -= res;
            }
            queue(slot);
            return false;
        }
        int result = transfer && res >= 0 ? (int) (done[slot] + res) : res;
        IoCompletion handler = handlers[slot];
        long tag = tags[slot];
        handlers[slot] = null;
        freeSlots[freeCount++] = slot;
        inFlight--;
        handler.complete(tag, result);
        return true;
    }

    private static boolean takesOffset(int fd) {
        try {
            return Fds.isSeekable(fd);
        } catch (NativeException e) {
            return true; // the resubmitted operation reports what is wrong with fd
        }
    }

    /** Skips {@code bytes} already transferred by moving the iovec array's start in place. */
    private void advanceIovecs(int slot, long bytes) {
        MemorySegment iov = MemorySegment.ofAddress(addrs[slot]).reinterpret(16L * lens[slot]);
        int i = 0;
        while (bytes > 0) {
            long len = iov.get(ValueLayout.JAVA_LONG, 16L * i + 8);
            if (bytes >= len) {
                bytes -= len;
                i++;
            } else {
                iov.set(ValueLayout.JAVA_LONG, 16L * i, iov.get(ValueLayout.JAVA_LONG, 16L * i) + bytes);
                iov.set(ValueLayout.JAVA_LONG, 16L * i + 8, len - bytes);
                bytes = 0;
            }
        }
        addrs[slot] += 16L * i;
        lens[slot] -= i;
    }

    /** Waits until every operation in flight has completed and been delivered. */
    public void drain() throws NativeException {
        while (inFlight > 0) {
            submitAndWait();
        }
    }

    // ---- registration -----------------------------------------------------------------------

    /** Registers files for fixed-file use; mostly a capability check of the register call. */
    public void registerFiles(int... files) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment array = arena.allocateFrom(ValueLayout.JAVA_INT, files);
            long r = syscall(SYS_IO_URING_REGISTER, ringFd, REGISTER_FILES, array.address(), files.length, 0, 0);
            if (r < 0) {
                throw new NativeException("io_uring_register(FILES)", (int) -r);
            }
        }
    }

    public void unregisterFiles() throws NativeException {
        long r = syscall(SYS_IO_URING_REGISTER, ringFd, UNREGISTER_FILES, 0, 0, 0, 0);
        if (r < 0) {
            throw new NativeException("io_uring_register(UNREGISTER_FILES)", (int) -r);
        }
    }

    /** Closes the ring; the kernel cancels or finishes whatever is still in flight. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        sqeMap.close();
        ringMap.close();
        Fds.closeQuietly(ringFd);
    }
}
