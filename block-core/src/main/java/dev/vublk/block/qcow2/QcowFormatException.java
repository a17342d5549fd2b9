package dev.vublk.block.qcow2;

/** A structural problem in a qcow2 image; turned into an ImageException naming the file at open. */
public final class QcowFormatException extends Exception {
    public QcowFormatException(String message) {
        super(message);
    }
}
