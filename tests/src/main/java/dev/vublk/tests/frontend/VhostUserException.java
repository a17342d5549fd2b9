package dev.vublk.tests.frontend;

/** The backend refused a request, broke the protocol, or did not answer in time. */
public class VhostUserException extends RuntimeException {
    public VhostUserException(String message) {
        super(message);
    }

    public VhostUserException(String message, Throwable cause) {
        super(message, cause);
    }
}
