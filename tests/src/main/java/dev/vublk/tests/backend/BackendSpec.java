package dev.vublk.tests.backend;

import java.nio.file.Path;

/**
 * What a backend under test serves and how.
 *
 * @param image            the image file
 * @param format           raw, qcow2 or vhdx; auto (our backend only) detects it
 * @param numQueues        queues offered
 * @param readOnly         serve read-only
 * @param serial           GET_ID answer (our backend only; null for the default)
 * @param logicalBlockSize 512 or 4096
 * @param writeCache       our backend's --write-cache
 */
public record BackendSpec(Path image, String format, int numQueues, boolean readOnly, String serial,
                          int logicalBlockSize, boolean writeCache) {
    public static BackendSpec raw(Path image, int numQueues) {
        return new BackendSpec(image, "raw", numQueues, false, null, 512, true);
    }

    public BackendSpec withReadOnly(boolean ro) {
        return new BackendSpec(image, format, numQueues, ro, serial, logicalBlockSize, writeCache);
    }

    public BackendSpec withSerial(String s) {
        return new BackendSpec(image, format, numQueues, readOnly, s, logicalBlockSize, writeCache);
    }

    public BackendSpec withLogicalBlockSize(int size) {
        return new BackendSpec(image, format, numQueues, readOnly, serial, size, writeCache);
    }

    public BackendSpec withWriteCache(boolean on) {
        return new BackendSpec(image, format, numQueues, readOnly, serial, logicalBlockSize, on);
    }

    public BackendSpec withFormat(String f) {
        return new BackendSpec(image, f, numQueues, readOnly, serial, logicalBlockSize, writeCache);
    }
}
