package dev.vublk.vhost;

import java.io.IOException;

/** The byte stream cannot be trusted any more (bad framing): the connection must be dropped. */
public final class ProtocolException extends IOException {
    public ProtocolException(String message) {
        super(message);
    }
}
