package dev.vublk.uring;

import java.lang.foreign.Arena;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Brings librbd's completions to one queue thread. librbd runs completion callbacks on its own
 * threads; the callback (an FFM upcall) only records which operation finished and writes this
 * channel's eventfd, on which the queue keeps a read standing on its own io_uring. The queue
 * learns of completions only from that read, so one ring wait covers kicks, files and Ceph.
 *
 * <p>Why a per-queue eventfd written by the callback, not librbd's image notification
 * ({@code rbd_set_image_notification} + {@code rbd_poll_io_events}): the notification is one
 * eventfd per image handle and the queues share one handle (one exclusive-lock owner, one
 * cache), so every queue's completions would come out of one list, read by whichever thread
 * woke first, and have to be handed across threads again. A handle per queue would instead make
 * the queues fight over the image's exclusive lock. The callback costs one upcall per operation
 * on librbd's finisher thread, and at most one eventfd write per batch: it writes only when the
 * queue has not been signalled since it last took the finished operations.
 *
 * <p>Lifetime: the owner closes the channel only once every operation it started has completed
 * (the callback of an operation runs before the operation counts as completed), and the
 * callback and {@link #close} exclude each other, so no callback ever writes to a closed
 * (perhaps reused) descriptor number.
 */
public final class RbdCompletions implements AutoCloseable {
    private static final int MAX_CHANNELS = 1 << 16;
    private static final AtomicReferenceArray<RbdCompletions> CHANNELS = new AtomicReferenceArray<>(MAX_CHANNELS);
    private static int nextId;
    private static final MemorySegment CALLBACK;

    static {
        try {
            CALLBACK = Linker.nativeLinker().upcallStub(
                    MethodHandles.lookup().findStatic(RbdCompletions.class, "completed",
                            MethodType.methodType(void.class, MemorySegment.class, MemorySegment.class)),
                    Librbd.CALLBACK, Arena.global());
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int id;
    private final EventFd wake;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment readBuffer = arena.allocate(ValueLayout.JAVA_LONG);
    private final MemorySegment completionOut = arena.allocate(ValueLayout.ADDRESS);
    private int[] pending = new int[64]; // tokens finished since the last take (guarded by this)
    private int pendingCount;
    private int[] taken = new int[64];   // the queue thread's batch
    private boolean signalled;
    private boolean closed;

    public RbdCompletions() throws NativeException {
        wake = EventFd.create(); // blocking: the ring's read waits in the kernel instead of failing EAGAIN
        try {
            id = register(this);
        } catch (NativeException e) {
            wake.close();
            arena.close();
            throw e;
        }
    }

    private static synchronized int register(RbdCompletions channel) throws NativeException {
        for (int i = 0; i < MAX_CHANNELS; i++) {
            int id = (nextId + i) % MAX_CHANNELS;
            if (CHANNELS.get(id) == null) {
                CHANNELS.set(id, channel);
                nextId = id + 1;
                return id;
            }
        }
        throw new NativeException("rbd completion channel (" + MAX_CHANNELS + " open)", Errno.EMFILE);
    }

    /**
     * A librbd completion for the operation {@code token} (a non-negative int the owner picks):
     * when it finishes, {@code token} shows up in {@link #take}.
     */
    public long create(int token) throws NativeException {
        return Librbd.createCompletion(((long) id << 32) | token, CALLBACK, completionOut);
    }

    /**
     * Keeps a read of the eventfd on {@code ring}; {@code woken} runs on the queue thread when
     * it completes (then {@link #take} what finished, and arm again unless stopping).
     */
    public void arm(IoUring ring, IoCompletion woken) throws NativeException {
        ring.read(wake.fd(), readBuffer.address(), 8, 0, woken, 0);
    }

    /** Completes the standing read without an operation: how a stopping owner ends it. */
    public synchronized void wake() throws NativeException {
        if (!closed) {
            wake.write(1);
        }
    }

    /**
     * Takes the tokens of every operation finished since the last take; returns how many, read
     * them with {@link #token}. Queue thread only.
     */
    public int take() {
        synchronized (this) {
            int[] t = taken;
            taken = pending;
            pending = t;
            int n = pendingCount;
            pendingCount = 0;
            signalled = false;
            return n;
        }
    }

    /** The {@code i}th token of the last {@link #take}. */
    public int token(int i) {
        return taken[i];
    }

    /** Runs on a librbd thread: must never throw into native code, must never block for long. */
    private static void completed(MemorySegment completion, MemorySegment arg) {
        try {
            long a = arg.address();
            RbdCompletions channel = CHANNELS.get((int) (a >>> 32));
            if (channel != null) {
                channel.deliver((int) a);
            }
        } catch (Throwable t) {
            // An exception escaping an upcall aborts the JVM. Nothing here can fail but the
            // eventfd write (EBADF would mean a bug in the owner's lifetime); the operation then
            // stays outstanding and its queue never drains, which shows, instead of a crash.
            System.err.println("rbd completion callback failed: " + t);
        }
    }

    private synchronized void deliver(int token) throws NativeException {
        if (closed) {
            return;
        }
        if (pendingCount == pending.length) {
            pending = Arrays.copyOf(pending, pendingCount * 2);
        }
        pending[pendingCount++] = token;
        if (!signalled) {
            signalled = true;
            wake.write(1);
        }
    }

    /** Closes the eventfd and frees the memory; every operation has completed and the ring's read is done. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            wake.close();
        }
        CHANNELS.compareAndSet(id, this, null);
        arena.close();
    }
}
