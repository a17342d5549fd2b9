package dev.vublk.tests.vm;

/** A VM run that gave no usable verdict, or a guest test that reported FAIL. */
public class VmException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public VmException(String message) {
        super(message);
    }

    public VmException(String message, Throwable cause) {
        super(message, cause);
    }
}
