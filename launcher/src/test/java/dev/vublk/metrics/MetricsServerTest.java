package dev.vublk.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.vublk.vhost.blk.BlkStats;
import dev.vublk.vhost.blk.DiskStatistics;
import dev.vublk.vhost.blk.IoLimits;
import dev.vublk.vhost.blk.RequestKind;
import dev.vublk.vhost.blk.RequestStatus;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The endpoint over real HTTP, its body parsed line by line against the text exposition format
 * 0.0.4: every sample under the family its HELP and TYPE lines declared, counters named
 * {@code _total}, labels well formed and escaped, histogram buckets cumulative up to {@code +Inf}
 * equal to {@code _count}, and the numbers the statistics were fed.
 */
class MetricsServerTest {
    /** A serial with both characters the format escapes in label values. */
    private static final String SERIAL = "d\"1\\x";
    private static final Pattern SAMPLE = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)\\{(.*)} (\\S+)");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\\\n]|\\\\[\\\\\"n])*)\"(,|$)");
    private static final Pattern COMMENT = Pattern.compile("# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)");

    private record Sample(String name, Map<String, String> labels, String value) {}

    private final HttpClient client = HttpClient.newHttpClient();
    private MetricsServer server;

    @BeforeEach
    void setUp() throws Exception {
        BlkStats stats = new BlkStats(2);
        stats.queue(0).taken();
        stats.queue(0).taken();
        stats.queue(0).taken();
        stats.queue(0).completed(RequestKind.READ, RequestStatus.OK, 4096, 1024);
        stats.queue(0).completed(RequestKind.READ, RequestStatus.IOERR, 4096, 1025);
        stats.queue(1).taken();
        stats.queue(1).completed(RequestKind.FLUSH, RequestStatus.OK, 0, 3_000_000);
        stats.queue(1).taken();
        stats.queue(1).completed(RequestKind.WRITE, RequestStatus.OK, 512, 1L << 40);
        IoLimits limits = new IoLimits(0, 100, 0, 0, 0, 0, 0, 200, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1);
        DiskStatistics d = stats.snapshot(SERIAL, 1 << 26, limits);
        server = MetricsServer.start(new InetSocketAddress("127.0.0.1", 0), () -> d);
    }

    @AfterEach
    void tearDown() {
        server.close();
    }

    private HttpResponse<String> send(String method, String path) throws Exception {
        URI uri = URI.create("http://127.0.0.1:" + server.address().getPort() + path);
        return client.send(HttpRequest.newBuilder(uri).method(method, HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** Parses the exposition, failing on any line outside the format. */
    private static List<Sample> parse(String body) {
        assertTrue(body.endsWith("\n"), "the last line ends with a line feed");
        Map<String, String> types = new HashMap<>();
        String family = null;
        String help = null;
        List<Sample> samples = new ArrayList<>();
        for (String line : body.split("\n")) {
            Matcher c = COMMENT.matcher(line);
            if (c.matches()) {
                if (c.group(1).equals("HELP")) {
                    help = c.group(2);
                    continue;
                }
                assertEquals(c.group(2), help, "TYPE follows its own HELP: " + line);
                assertTrue(Set.of("counter", "gauge", "histogram").contains(c.group(3)), line);
                assertTrue(types.put(c.group(2), c.group(3)) == null, "declared once: " + line);
                family = c.group(2);
                if (c.group(3).equals("counter")) {
                    assertTrue(family.endsWith("_total"), "a counter's name ends in _total: " + family);
                }
                continue;
            }
            Matcher s = SAMPLE.matcher(line);
            assertTrue(s.matches(), "a sample line: " + line);
            String name = s.group(1);
            String owner = types.containsKey(name) ? name : name.replaceFirst("_(bucket|sum|count)$", "");
            assertEquals(family, owner, "a sample under its own family's TYPE: " + line);
            if (!owner.equals(name)) {
                assertEquals("histogram", types.get(owner), line);
            }
            Map<String, String> labels = new LinkedHashMap<>();
            Matcher l = LABEL.matcher(s.group(2));
            int at = 0;
            while (at < s.group(2).length()) {
                assertTrue(l.find(at) && l.start() == at, "well-formed labels: " + line);
                String value = l.group(2).replace("\\n", "\n").replace("\\\"", "\"").replace("\\\\", "\\");
                assertTrue(labels.put(l.group(1), value) == null, "each label once: " + line);
                at = l.end();
            }
            Double.parseDouble(s.group(3));
            assertEquals(SERIAL, labels.get("disk"), line);
            samples.add(new Sample(name, labels, s.group(3)));
        }
        return samples;
    }

    private static String value(List<Sample> samples, String name, String... labels) {
        String found = null;
        for (Sample s : samples) {
            boolean match = s.name().equals(name);
            for (int i = 0; match && i < labels.length; i += 2) {
                match = labels[i + 1].equals(s.labels().get(labels[i]));
            }
            if (match) {
                assertTrue(found == null, "one sample " + name + " " + List.of(labels));
                found = s.value();
            }
        }
        assertNotNull(found, "no sample " + name + " " + List.of(labels));
        return found;
    }

    @Test
    void metricsIsTheTextFormatWithEveryFamilyAndTheCountsFed() throws Exception {
        HttpResponse<String> r = send("GET", "/metrics");
        assertEquals(200, r.statusCode());
        assertEquals("text/plain; version=0.0.4; charset=utf-8", r.headers().firstValue("Content-Type").orElseThrow());
        assertTrue(r.body().contains("vublk_disk_size_bytes{disk=\"d\\\"1\\\\x\"} 67108864\n"), "escaped serial");
        List<Sample> samples = parse(r.body());

        assertEquals("67108864", value(samples, "vublk_disk_size_bytes"));
        assertEquals(2 * 7 * 3, samples.stream().filter(s -> s.name().equals("vublk_requests_total")).count());
        assertEquals("1", value(samples, "vublk_requests_total", "queue", "0", "type", "read", "status", "ok"));
        assertEquals("1", value(samples, "vublk_requests_total", "queue", "0", "type", "read", "status", "ioerr"));
        assertEquals("0", value(samples, "vublk_requests_total", "queue", "1", "type", "read", "status", "ok"));
        assertEquals("1", value(samples, "vublk_requests_total", "queue", "1", "type", "flush", "status", "ok"));
        assertEquals("4096", value(samples, "vublk_read_bytes_total", "queue", "0"));
        assertEquals("512", value(samples, "vublk_written_bytes_total", "queue", "1"));
        assertEquals("0", value(samples, "vublk_dropped_requests_total", "queue", "1"));
        assertEquals("1", value(samples, "vublk_requests_in_flight", "queue", "0"));
        assertEquals("0", value(samples, "vublk_requests_in_flight", "queue", "1"));
        assertEquals("100", value(samples, "vublk_limit_iops", "type", "read"));
        assertEquals("0", value(samples, "vublk_limit_iops", "type", "total"));
        assertEquals("200", value(samples, "vublk_limit_iops_max", "type", "read"));
        assertEquals("0", value(samples, "vublk_limit_bytes_per_second", "type", "write"));

        String h = "vublk_request_duration_seconds";
        assertEquals("1", value(samples, h + "_bucket", "queue", "0", "type", "read", "le", "0.000001024"));
        assertEquals("2", value(samples, h + "_bucket", "queue", "0", "type", "read", "le", "0.000002048"));
        assertEquals("0.000002049", value(samples, h + "_sum", "queue", "0", "type", "read"));
        assertEquals("0", value(samples, h + "_bucket", "queue", "1", "type", "other", "le", "0.002097152"));
        assertEquals("1", value(samples, h + "_bucket", "queue", "1", "type", "other", "le", "0.004194304"));
        assertEquals("0", value(samples, h + "_bucket", "queue", "1", "type", "write", "le", "34.359738368"));
        assertEquals("1", value(samples, h + "_bucket", "queue", "1", "type", "write", "le", "+Inf"));
        assertEquals("1099.511627776", value(samples, h + "_sum", "queue", "1", "type", "write"));
        checkHistograms(samples, h);
    }

    /** Per queue and type: bounds rising to +Inf, counts never falling, +Inf = _count = the requests counted. */
    private static void checkHistograms(List<Sample> samples, String h) {
        Set<String> seen = new HashSet<>();
        for (String queue : List.of("0", "1")) {
            for (String type : List.of("read", "write", "other")) {
                double bound = 0;
                long count = -1;
                String last = null;
                for (Sample s : samples) {
                    if (s.name().equals(h + "_bucket") && queue.equals(s.labels().get("queue"))
                            && type.equals(s.labels().get("type"))) {
                        String le = s.labels().get("le");
                        double b = le.equals("+Inf") ? Double.POSITIVE_INFINITY : Double.parseDouble(le);
                        assertTrue(b > bound, "bounds rise: " + le);
                        long n = Long.parseLong(s.value());
                        assertTrue(n >= count, "cumulative: " + s);
                        bound = b;
                        count = n;
                        last = le;
                        seen.add(queue + type);
                    }
                }
                assertEquals("+Inf", last, "the last bucket is +Inf");
                assertEquals(Long.toString(count), value(samples, h + "_count", "queue", queue, "type", type));
                assertEquals(requestsOfClass(samples, queue, type), count, queue + " " + type);
            }
        }
        assertEquals(6, seen.size());
    }

    private static long requestsOfClass(List<Sample> samples, String queue, String latencyClass) {
        long n = 0;
        for (RequestKind kind : RequestKind.values()) {
            if (kind.latencyClass().label().equals(latencyClass)) {
                for (RequestStatus status : RequestStatus.values()) {
                    n += Long.parseLong(value(samples, "vublk_requests_total", "queue", queue, "type", kind.label(),
                            "status", status.label()));
                }
            }
        }
        return n;
    }

    @Test
    void otherPathsAre404AndOtherMethods405() throws Exception {
        assertEquals(404, send("GET", "/").statusCode());
        assertEquals(404, send("GET", "/metricsx").statusCode());
        assertEquals(404, send("GET", "/metrics/x").statusCode());
        HttpResponse<String> post = send("POST", "/metrics");
        assertEquals(405, post.statusCode());
        assertEquals("GET", post.headers().firstValue("Allow").orElseThrow());
        assertEquals(200, send("GET", "/metrics").statusCode(), "still served after refusals");
    }

    @Test
    void aPortInUseIsAnErrorNamingTheAddress() {
        InetSocketAddress taken = server.address();
        try (MetricsServer second = MetricsServer.start(taken, () -> fail("never asked"))) {
            fail("a second server bound " + second.address());
        } catch (java.io.IOException e) {
            assertTrue(e.getMessage().startsWith("cannot serve metrics on 127.0.0.1:" + taken.getPort() + ": "), e.getMessage());
        }
    }
}
