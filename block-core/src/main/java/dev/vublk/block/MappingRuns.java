package dev.vublk.block;

import dev.vublk.block.storage.Storage;
import java.util.Arrays;

/**
 * The runs a {@link Mapping#lookup} answers with, in primitive arrays so a request is looked up
 * without allocating: for each run its kind, guest range, storage and host offset. Adjacent runs
 * of one kind (and, for data, contiguous in one storage) are merged as they are added. Owned by
 * one queue thread and reused.
 */
public final class MappingRuns {
    /** Data at {@code host} in {@code storage}. */
    public static final int DATA = 0;
    /** Reads as zeros. */
    public static final int ZERO = 1;
    /** Not in this image: the backing image's (zeros past its end, or without one). */
    public static final int BACKING = 2;
    /** A compressed stream of at most {@code compressedLength} bytes at {@code host}; the run may start inside its unit. */
    public static final int COMPRESSED = 3;

    private int[] kind = new int[16];
    private long[] guest = new long[16];
    private long[] length = new long[16];
    private Storage[] storage = new Storage[16];
    private long[] host = new long[16];
    private long[] compressedLength = new long[16];
    private int count;
    private Storage fetchStorage;
    private long fetchHost;
    private int fetchLength;
    private long fetchToken;
    /** Set by the engine before a lookup, as {@link dev.vublk.block.WriteStep#metadataDone}. */
    public boolean metadataDone;

    public void clear() {
        Arrays.fill(storage, 0, count, null);
        count = 0;
        fetchStorage = null;
    }

    /**
     * The lookup needs metadata that is not cached: the engine reads {@code length} bytes at
     * {@code host} on the ring, hands them to {@link Mapping#fetched} with {@code host} and {@code token}, and
     * looks the range up again. Runs added so far are ignored.
     */
    public void fetch(Storage in, long host, int length, long token) {
        fetchStorage = in;
        fetchHost = host;
        fetchLength = length;
        fetchToken = token;
    }

    public boolean fetching() { return fetchStorage != null; }

    public Storage fetchStorage() { return fetchStorage; }

    public long fetchHost() { return fetchHost; }

    public int fetchLength() { return fetchLength; }

    public long fetchToken() { return fetchToken; }

    public int count() { return count; }

    public int kind(int i) { return kind[i]; }

    public long guest(int i) { return guest[i]; }

    public long length(int i) { return length[i]; }

    public Storage storage(int i) { return storage[i]; }

    public long host(int i) { return host[i]; }

    public long compressedLength(int i) { return compressedLength[i]; }

    public void data(long guestOffset, long bytes, Storage in, long hostOffset) {
        add(DATA, guestOffset, bytes, in, hostOffset, 0);
    }

    public void zero(long guestOffset, long bytes) {
        add(ZERO, guestOffset, bytes, null, 0, 0);
    }

    public void backing(long guestOffset, long bytes) {
        add(BACKING, guestOffset, bytes, null, 0, 0);
    }

    public void compressed(long guestOffset, long bytes, Storage in, long hostOffset, long streamLength) {
        add(COMPRESSED, guestOffset, bytes, in, hostOffset, streamLength);
    }

    private void add(int k, long guestOffset, long bytes, Storage in, long hostOffset, long compressed) {
        if (count > 0) {
            int last = count - 1;
            if (kind[last] == k && guest[last] + length[last] == guestOffset && k != COMPRESSED
                    && (k != DATA || (storage[last] == in && host[last] + length[last] == hostOffset))) {
                length[last] += bytes;
                return;
            }
        }
        if (count == kind.length) {
            int n = count * 2;
            kind = Arrays.copyOf(kind, n);
            guest = Arrays.copyOf(guest, n);
            length = Arrays.copyOf(length, n);
            storage = Arrays.copyOf(storage, n);
            host = Arrays.copyOf(host, n);
            compressedLength = Arrays.copyOf(compressedLength, n);
        }
        kind[count] = k;
        guest[count] = guestOffset;
        length[count] = bytes;
        storage[count] = in;
        host[count] = hostOffset;
        compressedLength[count] = compressed;
        count++;
    }
}
