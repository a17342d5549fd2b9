package dev.vublk.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.vublk.vhost.blk.DiskStatistics;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves {@code GET /metrics} in the Prometheus text format with the JDK's HTTP server; every
 * other path is 404 and every other method 405. It only reads statistics snapshots, so however
 * clients behave the queues never wait for it. Its own cost is bounded: {@link #THREADS}
 * threads, at most {@link #MAX_CONNECTIONS} connections, and a request or response that takes
 * longer than {@link #MAX_EXCHANGE_SECONDS} s gets its connection closed, so slow clients cannot
 * keep the threads (these are the JDK server's documented properties; an operator's
 * {@code -D} settings win).
 */
public final class MetricsServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(MetricsServer.class);
    static final int THREADS = 2;
    static final int MAX_CONNECTIONS = 16;
    /**
     * Seconds: the JDK's module documentation says milliseconds for {@code maxReqTime} and
     * {@code maxRspTime}, but its server (JDK 25 included) reads them as seconds.
     */
    static final int MAX_EXCHANGE_SECONDS = 10;
    private static final AtomicInteger THREAD_NUMBER = new AtomicInteger();

    private final HttpServer server;
    private final ExecutorService executor;
    private final Supplier<DiskStatistics> statistics;

    private MetricsServer(HttpServer server, ExecutorService executor, Supplier<DiskStatistics> statistics) {
        this.server = server;
        this.executor = executor;
        this.statistics = statistics;
    }

    /** Binds {@code address} and starts serving snapshots from {@code statistics}. */
    public static MetricsServer start(InetSocketAddress address, Supplier<DiskStatistics> statistics) throws IOException {
        limitConnections();
        HttpServer server;
        try {
            server = HttpServer.create(address, MAX_CONNECTIONS);
        } catch (IOException e) {
            throw new IOException("cannot serve metrics on " + hostPort(address) + ": " + e.getMessage(), e);
        }
        ExecutorService executor = Executors.newFixedThreadPool(THREADS, r -> {
            Thread t = new Thread(r, "metrics-http-" + THREAD_NUMBER.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        MetricsServer m = new MetricsServer(server, executor, statistics);
        server.createContext("/", m::handle);
        server.setExecutor(executor);
        server.start();
        LOG.info("serving metrics at http://{}/metrics", hostPort(m.address()));
        return m;
    }

    /** Read once, when the JDK's server first loads its configuration: set before any server exists. */
    private static void limitConnections() {
        setDefault("jdk.httpserver.maxConnections", MAX_CONNECTIONS);
        setDefault("sun.net.httpserver.maxReqTime", MAX_EXCHANGE_SECONDS);
        setDefault("sun.net.httpserver.maxRspTime", MAX_EXCHANGE_SECONDS);
    }

    private static void setDefault(String property, int value) {
        if (System.getProperty(property) == null) {
            System.setProperty(property, Integer.toString(value));
        }
    }

    /** The bound address (its port is the one chosen when 0 was asked for). */
    public InetSocketAddress address() {
        return server.getAddress();
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            if (!exchange.getRequestURI().getPath().equals("/metrics")) {
                reply(exchange, 404, "text/plain; charset=utf-8", "not found: only /metrics is served\n");
            } else if (!exchange.getRequestMethod().equals("GET")) {
                exchange.getResponseHeaders().set("Allow", "GET");
                reply(exchange, 405, "text/plain; charset=utf-8", "method not allowed: only GET\n");
            } else {
                reply(exchange, 200, PrometheusText.CONTENT_TYPE, PrometheusText.render(statistics.get()));
            }
        } catch (RuntimeException e) {
            LOG.warn("metrics request failed", e); // a bug: the exchange is closed, the next one is served
        }
    }

    private static void reply(HttpExchange exchange, int status, String contentType, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", contentType);
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    private static String hostPort(InetSocketAddress a) {
        String host = a.getAddress().getHostAddress();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }

    /** Stops listening, lets an exchange under way finish for at most a second, and ends the threads. */
    @Override
    public void close() {
        server.stop(1);
        executor.shutdownNow();
    }
}
