package dev.vublk.control;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One control client: the greeting, then one message after the other through the dispatcher,
 * replies and events through its {@link Outbox}. Input that is not bounded JSON breaks the byte
 * stream (there is no telling where the next message starts), so it gets one error reply and
 * the connection ends; a well-formed message that is no valid command gets an error reply and
 * the client goes on.
 */
final class QmpSession {
    private static final Logger LOG = LoggerFactory.getLogger(QmpSession.class);

    private final QmpDispatcher dispatcher;
    private final SocketChannel channel;
    private final Outbox outbox;
    private volatile boolean negotiated;

    QmpSession(QmpDispatcher dispatcher, SocketChannel channel) {
        this.dispatcher = dispatcher;
        this.channel = channel;
        this.outbox = new Outbox(channel);
    }

    /** The writer's loop, to run on its own thread; it closes the channel when it ends. */
    Runnable writer() {
        return outbox;
    }

    /** The reader's loop, to run on its own thread. */
    void serve() {
        send(Map.of("QMP", dispatcher.greeting()));
        try {
            InputStream in = new BufferedInputStream(Channels.newInputStream(channel), 8192);
            Json.Reader reader = new Json.Reader(in, Json.MAX_MESSAGE, Json.MAX_DEPTH);
            while (true) {
                Object message = reader.next();
                QmpDispatcher.Reply reply = dispatcher.dispatch(message, this);
                send(reply.body());
                reply.after().run();
            }
        } catch (Json.MalformedException e) {
            LOG.info("control client sent invalid input ({}); closing its connection", e.getMessage());
            send(QmpDispatcher.error(QmpException.GENERIC, "JSON parse error, " + e.getMessage()));
        } catch (EOFException e) {
            // the client closed its side
        } catch (IOException e) {
            LOG.debug("control client connection failed", e);
        } catch (RuntimeException e) { // a bug must cost this connection only, and be seen
            LOG.error("control client connection ended by an internal error", e);
        } finally {
            outbox.finish();
        }
    }

    boolean negotiated() {
        return negotiated;
    }

    void negotiate() {
        negotiated = true;
    }

    void send(Map<String, Object> message) {
        send(Json.write(message));
    }

    /** Queues a message without waiting for the client (see {@link Outbox}). */
    void send(String json) {
        outbox.offer(json);
    }

    /** Ends the connection once what is queued is sent (the reader's own end also does this). */
    void finish() {
        outbox.finish();
    }

    /** Ends the connection now, whatever is queued. */
    void close() {
        outbox.close();
    }
}
