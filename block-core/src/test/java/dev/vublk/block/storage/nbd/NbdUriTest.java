package dev.vublk.block.storage.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.ImageException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class NbdUriTest {
    @Test
    void tcpWithPortAndExport() throws ImageException {
        NbdUri u = NbdUri.parse("nbd://example.com:10900/disk%201");
        assertEquals("example.com", u.host());
        assertEquals(10900, u.port());
        assertEquals("disk 1", u.export());
        assertNull(u.socket());
    }

    @Test
    void tcpDefaultsPortAndAllowsAnEmptyExport() throws ImageException {
        NbdUri u = NbdUri.parse("nbd://10.0.0.1");
        assertEquals("10.0.0.1", u.host());
        assertEquals(NbdUri.DEFAULT_PORT, u.port());
        assertEquals("", u.export());
        assertEquals("", NbdUri.parse("nbd://10.0.0.1/").export());
        assertEquals("a/b", NbdUri.parse("nbd+tcp://h/a/b").export());
    }

    @Test
    void ipv6InBrackets() throws ImageException {
        NbdUri u = NbdUri.parse("nbd://[::1]:7000/x");
        assertEquals("::1", u.host());
        assertEquals(7000, u.port());
        assertEquals("[::1]:7000 export 'x'", u.describe());
    }

    @Test
    void unixSocket() throws ImageException {
        NbdUri u = NbdUri.parse("nbd+unix:///vol?socket=/run/nbd%20x.sock");
        assertNull(u.host());
        assertEquals(Path.of("/run/nbd x.sock"), u.socket());
        assertEquals("vol", u.export());
        assertEquals("", NbdUri.parse("nbd+unix://?socket=/s").export());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "nbds://host/x|TLS (nbds) is not supported",
        "nbds+unix:///x?socket=/s|TLS (nbds+unix) is not supported",
        "nbd+vsock://1:2/x|unsupported scheme nbd+vsock",
        "http://host/x|unsupported scheme http",
        "/dev/nbd0|an NBD URI starts nbd://",
        "nbd:host|an NBD URI starts nbd://",
        "nbd://host/x?socket=/s|socket= is only for nbd+unix",
        "nbd://host/x?tls-certificates=/c|unsupported query parameter 'tls-certificates'",
        "nbd+unix:///x|nbd+unix needs ?socket=PATH",
        "nbd+unix:///x?socket=|empty socket path",
        "nbd+unix:///x?socket=/a&socket=/b|socket= given twice",
        "nbd+unix://host/x?socket=/s|nbd+unix takes no host",
        "nbd+unix:///x?socket=/s&foo=1|unsupported query parameter 'foo'",
        "nbd://user@host/x|a user name is only for TLS",
        "nbd://host/x#frag|a fragment has no meaning",
        "nbd:///x|no host",
        "nbd://host:0/x|port 0 out of range",
        "nbd://host:99999/x|port 99999 out of range",
        "nbd://host/a%zz|Malformed escape pair",
        "nbd://host/a%2|Malformed escape pair",
        "nbd://host/a%00b|NUL byte",
        "nbd://host/a b|not a URI",
    })
    void refused(String uri, String reason) {
        ImageException e = assertThrows(ImageException.class, () -> NbdUri.parse(uri));
        assertTrue(e.getMessage().contains(reason), e.getMessage());
        assertTrue(e.getMessage().contains("bad NBD URI"), e.getMessage());
    }

    @Test
    void tooLongAnExportName() {
        ImageException e = assertThrows(ImageException.class, () -> NbdUri.parse("nbd://h/" + "x".repeat(4097)));
        assertTrue(e.getMessage().contains("longer than 4096"), e.getMessage());
    }
}
