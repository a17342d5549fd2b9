package dev.vublk.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

class MetricsAddressTest {
    private static String parsed(String address) {
        InetSocketAddress a = MetricsAddress.parse(address);
        return a.getAddress().getHostAddress() + " " + a.getPort();
    }

    private static String refused(String address) {
        return assertThrows(IllegalArgumentException.class, () -> MetricsAddress.parse(address)).getMessage();
    }

    @Test
    void aPortAloneBindsToLocalhost() {
        assertEquals("127.0.0.1 9100", parsed("9100"));
    }

    @Test
    void hostAndPortAndBracketedIpv6() {
        assertEquals("0.0.0.0 80", parsed("0.0.0.0:80"));
        assertEquals("0:0:0:0:0:0:0:1 9100", parsed("[::1]:9100"));
        assertEquals("127.0.0.1 0", parsed("localhost:0"));
    }

    @Test
    void badAddressesNameWhatIsWrong() {
        assertEquals("write an IPv6 address in brackets, [ADDRESS]:PORT, not ::1:9100", refused("::1:9100"));
        assertEquals("an IPv6 address needs the form [ADDRESS]:PORT, not [::1]", refused("[::1]"));
        assertEquals("brackets are for IPv6 addresses only, not 127.0.0.1", refused("[127.0.0.1]:80"));
        assertEquals("write an IPv6 address in brackets, [ADDRESS]:PORT, not :80", refused(":80"));
        assertEquals("the port must be a number from 0 to 65535, not '65536'", refused("65536"));
        assertEquals("the port must be a number from 0 to 65535, not 'http'", refused("localhost:http"));
        assertEquals("the port must be a number from 0 to 65535, not ''", refused("localhost:"));
    }
}
