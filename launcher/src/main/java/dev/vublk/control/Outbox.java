package dev.vublk.control;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The messages waiting to go to one client, written by that client's own thread: replies and
 * events are only queued here, so a client that stops reading blocks nobody (not the thread
 * emitting an event, not the other clients). Its backlog is bounded; a client that lets it
 * overflow is dropped.
 */
final class Outbox implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(Outbox.class);

    /** Bytes a client may leave unread before it is dropped. */
    static final int MAX_PENDING = 1 << 20;

    private final SocketChannel channel;
    private final ArrayDeque<ByteBuffer> queue = new ArrayDeque<>();
    private int pending;
    private boolean finished;
    private boolean overflowed;

    Outbox(SocketChannel channel) {
        this.channel = channel;
    }

    /**
     * Queues one message, ending it with CRLF as QEMU does; does nothing once finished. A client
     * whose backlog would pass the bound is closed at once, which also ends a writer blocked on it.
     */
    void offer(String json) {
        byte[] bytes = (json + "\r\n").getBytes(StandardCharsets.US_ASCII); // Json.write escapes all else
        synchronized (this) {
            if (finished || overflowed) {
                return;
            }
            if (pending + bytes.length <= MAX_PENDING) {
                pending += bytes.length;
                queue.add(ByteBuffer.wrap(bytes));
                notifyAll();
                return;
            }
            overflowed = true;
            queue.clear();
            notifyAll();
        }
        LOG.warn("control client left {} bytes of replies and events unread; closing its connection", pending);
        close();
    }

    /** Nothing more will be offered: the writer sends what is queued, then closes the channel. */
    synchronized void finish() {
        finished = true;
        notifyAll();
    }

    /** The writer: sends queued messages in order until finished and empty, overflowed, or the channel fails. */
    @Override
    public void run() {
        try {
            ByteBuffer next;
            while ((next = take()) != null) {
                while (next.hasRemaining()) {
                    channel.write(next);
                }
                synchronized (this) {
                    pending -= next.capacity();
                }
            }
        } catch (IOException e) {
            // the client went away or the server closed the channel: nothing left to tell it
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            close();
        }
    }

    private synchronized ByteBuffer take() throws InterruptedException {
        while (queue.isEmpty() && !finished && !overflowed) {
            wait();
        }
        return overflowed ? null : queue.poll(); // null once finished and drained
    }

    void close() {
        try {
            channel.close();
        } catch (IOException e) {
            // closing a socket channel reports nothing we could act on
        }
    }
}
