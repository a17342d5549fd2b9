package dev.vublk.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --metrics}: checked as an option, and served by a running backend until it stops. */
class MetricsOptionTest {
    @TempDir
    Path dir;

    @Test
    void aBadAddressIsAnOptionError() throws IOException {
        Path img = Files.write(dir.resolve("a.raw"), new byte[4096]);
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true),
                "--socket-path", dir.resolve("s").toString(), "--blk-file", img.toString(), "--metrics", "::1:9100");
        assertEquals(2, code);
        assertTrue(err.toString().contains("--metrics: write an IPv6 address in brackets, [ADDRESS]:PORT, not ::1:9100"),
                err.toString());
    }

    @Test
    void aRunningBackendServesItsDiskAtMetrics() throws Exception {
        Path img = Files.write(dir.resolve("disk.raw"), new byte[1 << 20]);
        int port;
        try (ServerSocket probe = new ServerSocket(0)) {
            port = probe.getLocalPort(); // free now; the backend binds it a moment later
        }
        Process p = LauncherProcess.start(dir.resolve("backend.log"), "--socket-path", dir.resolve("s").toString(),
                "--blk-file", img.toString(), "--metrics", Integer.toString(port));
        try {
            HttpClient client = HttpClient.newHttpClient();
            HttpRequest get = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).build();
            String body = null;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (body == null && p.isAlive() && System.nanoTime() < deadline) {
                try {
                    HttpResponse<String> r = client.send(get, HttpResponse.BodyHandlers.ofString());
                    assertEquals(200, r.statusCode());
                    body = r.body();
                } catch (IOException notYet) {
                    Thread.sleep(50);
                }
            }
            String log = Files.readString(dir.resolve("backend.log"));
            assertTrue(body != null, "never served metrics on port " + port + ":\n" + log);
            assertTrue(body.contains("vublk_disk_size_bytes{disk=\"disk.raw\"} 1048576\n"), body);
            assertTrue(body.contains("vublk_requests_in_flight{disk=\"disk.raw\",queue=\"7\"} 0\n"), "8 queues by default");
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(20, TimeUnit.SECONDS), "backend did not stop on SIGTERM");
            assertEquals(0, p.exitValue(), Files.readString(dir.resolve("backend.log")));
        } finally {
            p.destroyForcibly();
        }
    }
}
