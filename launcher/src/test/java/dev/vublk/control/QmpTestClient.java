package dev.vublk.control;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;

/** A raw QMP client for tests: sends bytes as given and reads the server's CRLF-ended lines as they are. */
public final class QmpTestClient implements AutoCloseable {
    private final SocketChannel channel;
    private final InputStream in;

    public QmpTestClient(Path socket) throws IOException {
        channel = SocketChannel.open(UnixDomainSocketAddress.of(socket));
        in = Channels.newInputStream(channel);
    }

    /** Connects and checks the greeting came. */
    public static QmpTestClient connect(Path socket) throws IOException {
        QmpTestClient c = new QmpTestClient(socket);
        String greeting = c.line();
        if (!greeting.startsWith("{\"QMP\": ")) {
            c.close();
            throw new IOException("no greeting: " + greeting);
        }
        return c;
    }

    /** Connects, reads the greeting and negotiates capabilities. */
    public static QmpTestClient negotiated(Path socket) throws IOException {
        QmpTestClient c = connect(socket);
        assertEquals("{\"return\": {}}", c.request("{\"execute\": \"qmp_capabilities\"}"));
        return c;
    }

    public void send(byte[] bytes) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        while (b.hasRemaining()) {
            channel.write(b);
        }
    }

    public void send(String text) throws IOException {
        send(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Ends the sending side: the server reads the end of the stream, and may still reply. */
    public void shutdownOutput() throws IOException {
        channel.shutdownOutput();
    }

    /** Sends one message and returns the next line, without its CRLF. */
    public String request(String json) throws IOException {
        send(json + "\n");
        return line();
    }

    /** The next line without its CRLF; fails if the line does not end with CRLF or the server closed first. */
    public String line() throws IOException {
        String l = lineOrNull();
        if (l == null) {
            throw new IOException("server closed the connection");
        }
        return l;
    }

    /** The next line, or null if the server closed the connection before sending one. */
    public String lineOrNull() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) != '\n') {
            if (c == -1) {
                if (b.size() == 0) {
                    return null;
                }
                throw new IOException("line cut off: " + b);
            }
            b.write(c);
        }
        String s = b.toString(StandardCharsets.UTF_8);
        if (!s.endsWith("\r")) {
            throw new IOException("line without CRLF: " + s);
        }
        return s.substring(0, s.length() - 1);
    }

    /** The next line parsed. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> message() throws IOException {
        return (Map<String, Object>) Json.parse(line());
    }

    /** Reads until the server closes; returns the lines that came meanwhile. */
    public int linesUntilClosed() throws IOException {
        int n = 0;
        while (lineOrNull() != null) {
            n++;
        }
        return n;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
