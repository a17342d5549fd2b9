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
 * @param network          where the image is served from instead of {@code image}, or null for the file
 */
public record BackendSpec(Path image, String format, int numQueues, boolean readOnly, String serial,
                          int logicalBlockSize, boolean writeCache, NetworkStore network) {
    public BackendSpec(Path image, String format, int numQueues, boolean readOnly, String serial,
                       int logicalBlockSize, boolean writeCache) {
        this(image, format, numQueues, readOnly, serial, logicalBlockSize, writeCache, null);
    }

    public static BackendSpec raw(Path image, int numQueues) {
        return new BackendSpec(image, "raw", numQueues, false, null, 512, true);
    }

    public BackendSpec withReadOnly(boolean ro) {
        return new BackendSpec(image, format, numQueues, ro, serial, logicalBlockSize, writeCache, network);
    }

    public BackendSpec withSerial(String s) {
        return new BackendSpec(image, format, numQueues, readOnly, s, logicalBlockSize, writeCache, network);
    }

    public BackendSpec withLogicalBlockSize(int size) {
        return new BackendSpec(image, format, numQueues, readOnly, serial, size, writeCache, network);
    }

    public BackendSpec withWriteCache(boolean on) {
        return new BackendSpec(image, format, numQueues, readOnly, serial, logicalBlockSize, on, network);
    }

    public BackendSpec withFormat(String f) {
        return new BackendSpec(image, f, numQueues, readOnly, serial, logicalBlockSize, writeCache, network);
    }

    public BackendSpec withNetwork(NetworkStore n) {
        return new BackendSpec(image, format, numQueues, readOnly, serial, logicalBlockSize, writeCache, n);
    }

    /** What our backend is told to serve: the network location, or the image file. */
    public String location() {
        return network != null ? network.ours() : image.toString();
    }
}
