package dev.vublk.metrics;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/** The {@code --metrics} address: {@code PORT}, {@code HOST:PORT} or {@code [IPV6]:PORT}; the host defaults to 127.0.0.1. */
public final class MetricsAddress {
    /** The host when only a port is given: metrics stay on this machine unless asked otherwise. */
    public static final String DEFAULT_HOST = "127.0.0.1";

    private MetricsAddress() {}

    /**
     * Parses and resolves {@code address}.
     *
     * @throws IllegalArgumentException naming what is wrong with it
     */
    public static InetSocketAddress parse(String address) {
        String host = DEFAULT_HOST;
        String port = address;
        if (address.startsWith("[")) {
            int close = address.indexOf("]:");
            if (close < 0) {
                throw new IllegalArgumentException("an IPv6 address needs the form [ADDRESS]:PORT, not " + address);
            }
            host = address.substring(1, close);
            port = address.substring(close + 2);
            if (!host.contains(":")) {
                throw new IllegalArgumentException("brackets are for IPv6 addresses only, not " + host);
            }
        } else if (address.contains(":")) {
            int colon = address.lastIndexOf(':');
            host = address.substring(0, colon);
            port = address.substring(colon + 1);
            if (host.isEmpty() || host.contains(":")) {
                throw new IllegalArgumentException("write an IPv6 address in brackets, [ADDRESS]:PORT, not " + address);
            }
        }
        if (!port.matches("[0-9]{1,5}") || Integer.parseInt(port) > 65535) {
            throw new IllegalArgumentException("the port must be a number from 0 to 65535, not '" + port + "'");
        }
        try {
            return new InetSocketAddress(InetAddress.getByName(host), Integer.parseInt(port));
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("unknown host " + host);
        }
    }
}
