package dev.vublk.control;

/**
 * A command's failure as QMP reports it: {@code {"error": {"class": ..., "desc": ...}}}. QEMU uses
 * {@code GenericError} for nearly everything and {@code CommandNotFound} for unknown commands.
 */
public final class QmpException extends Exception {
    public static final String GENERIC = "GenericError", COMMAND_NOT_FOUND = "CommandNotFound";

    private final String errorClass;

    public QmpException(String errorClass, String desc) {
        super(desc);
        this.errorClass = errorClass;
    }

    /** A {@code GenericError}, the class QEMU reports for bad arguments and failed commands. */
    public QmpException(String desc) {
        this(GENERIC, desc);
    }

    public String errorClass() {
        return errorClass;
    }
}
