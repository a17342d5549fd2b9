package dev.vublk.block.storage.nbd;

import dev.vublk.block.ImageException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Where an NBD export is, from a URI of the NBD URI standard (doc/uri.md of the NBD project):
 * {@code nbd://HOST[:PORT]/EXPORT} (TCP, port 10809 by default, an IPv6 address in brackets) or
 * {@code nbd+unix:///EXPORT?socket=PATH}. The export name is the percent-decoded path after its
 * first slash and may be empty. TLS ({@code nbds}), vsock, user names and any query parameter but
 * {@code socket} are refused: this client would silently ignore what they ask for.
 *
 * @param host the TCP host (name or address, without brackets), or null for a Unix socket
 * @param socket the Unix socket, or null for TCP
 */
public record NbdUri(String text, String host, int port, Path socket, String export) {
    public static final int DEFAULT_PORT = 10809;

    public static NbdUri parse(String text) throws ImageException {
        URI uri;
        try {
            uri = new URI(text);
        } catch (URISyntaxException e) {
            throw refuse(text, "not a URI: " + e.getReason());
        }
        String scheme = uri.getScheme();
        if (scheme == null || uri.isOpaque()) {
            throw refuse(text, "an NBD URI starts nbd:// or nbd+unix:///");
        }
        boolean unix = switch (scheme) {
            case "nbd", "nbd+tcp" -> false;
            case "nbd+unix" -> true;
            case "nbds", "nbds+tcp", "nbds+unix" -> throw refuse(text, "TLS (" + scheme + ") is not supported");
            default -> throw refuse(text, "unsupported scheme " + scheme);
        };
        if (uri.getRawUserInfo() != null) {
            throw refuse(text, "a user name is only for TLS, which is not supported");
        }
        if (uri.getRawFragment() != null) {
            throw refuse(text, "a fragment has no meaning in an NBD URI");
        }
        String export = exportName(text, uri.getRawPath());
        Path socket = socketParameter(text, uri.getRawQuery(), unix);
        if (unix) {
            if (uri.getRawAuthority() != null) {
                throw refuse(text, "nbd+unix takes no host (nbd+unix:///EXPORT?socket=PATH)");
            }
            return new NbdUri(text, null, 0, socket, export);
        }
        String host = uri.getHost();
        if (host == null || host.isEmpty()) {
            throw refuse(text, uri.getRawAuthority() == null ? "no host" : "bad host or port in " + uri.getRawAuthority());
        }
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port = uri.getPort() == -1 ? DEFAULT_PORT : uri.getPort();
        if (port < 1 || port > 65535) {
            throw refuse(text, "port " + port + " out of range");
        }
        return new NbdUri(text, host, port, null, export);
    }

    private static String exportName(String text, String rawPath) throws ImageException {
        if (rawPath == null || rawPath.isEmpty()) {
            return "";
        }
        String name = decode(text, rawPath.substring(1));
        if (name.getBytes(StandardCharsets.UTF_8).length > NbdWire.MAX_STRING) {
            throw refuse(text, "export name longer than " + NbdWire.MAX_STRING + " bytes");
        }
        return name;
    }

    private static Path socketParameter(String text, String rawQuery, boolean unix) throws ImageException {
        Path socket = null;
        if (rawQuery != null && !rawQuery.isEmpty()) {
            for (String pair : rawQuery.split("&", -1)) {
                int eq = pair.indexOf('=');
                String key = decode(text, eq < 0 ? pair : pair.substring(0, eq));
                String value = eq < 0 ? "" : decode(text, pair.substring(eq + 1));
                if (!key.equals("socket")) {
                    throw refuse(text, "unsupported query parameter '" + key + "'");
                }
                if (!unix) {
                    throw refuse(text, "socket= is only for nbd+unix");
                }
                if (socket != null) {
                    throw refuse(text, "socket= given twice");
                }
                if (value.isEmpty()) {
                    throw refuse(text, "empty socket path");
                }
                socket = Path.of(value);
            }
        }
        if (unix && socket == null) {
            throw refuse(text, "nbd+unix needs ?socket=PATH");
        }
        return socket;
    }

    /** Percent-decoding (UTF-8) that refuses malformed escapes and NUL, which no C string can carry. */
    private static String decode(String text, String raw) throws ImageException {
        byte[] out = new byte[raw.length()];
        int n = 0;
        for (int i = 0; i < raw.length(); i++) {
            char c = raw.charAt(i);
            if (c == '%') {
                int value = i + 2 < raw.length() ? hex(raw.charAt(i + 1)) << 4 | hex(raw.charAt(i + 2)) : -1;
                if (value < 0) {
                    throw refuse(text, "bad percent escape at " + raw.substring(i));
                }
                out[n++] = (byte) value;
                i += 2;
            } else if (c > 0x7f) {
                throw refuse(text, "non-ASCII character in " + raw + " (percent-encode it)");
            } else {
                out[n++] = (byte) c;
            }
        }
        for (int i = 0; i < n; i++) {
            if (out[i] == 0) {
                throw refuse(text, "NUL byte in " + raw);
            }
        }
        return new String(out, 0, n, StandardCharsets.UTF_8);
    }

    private static int hex(char c) {
        int d = Character.digit(c, 16);
        return d < 0 ? -0x1000 : d;
    }

    private static ImageException refuse(String text, String reason) {
        return new ImageException(text, "bad NBD URI: " + reason);
    }

    /** Where the server is, for messages: host:port or the socket path, and the export. */
    public String describe() {
        String where = socket != null ? socket.toString() : host.contains(":") ? "[" + host + "]:" + port : host + ":" + port;
        return where + " export '" + export + "'";
    }
}
