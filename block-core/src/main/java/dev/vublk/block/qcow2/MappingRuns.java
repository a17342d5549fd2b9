package dev.vublk.block.qcow2;

import dev.vublk.block.Mapping;

/**
 * A reusable list of mapping runs: what {@link Mapping} records say, held in primitive arrays so
 * the data path can look a request up without allocating. Adjacent runs of one kind (and, for
 * data, contiguous on the host) are merged as they are added. DATA runs live in the image's data
 * file, COMPRESSED ones in the image file. Owned by one thread.
 */
final class MappingRuns {
    private Mapping.Kind[] kind = new Mapping.Kind[16];
    private long[] guest = new long[16];
    private long[] length = new long[16];
    private long[] host = new long[16];
    private long[] compressedLength = new long[16];
    private int count;

    void clear() {
        count = 0;
    }

    int count() { return count; }

    Mapping.Kind kind(int i) { return kind[i]; }

    long guest(int i) { return guest[i]; }

    long length(int i) { return length[i]; }

    long host(int i) { return host[i]; }

    long compressedLength(int i) { return compressedLength[i]; }

    void add(Mapping.Kind k, long guestOffset, long bytes, long hostOffset, long compressed) {
        if (count > 0) {
            int last = count - 1;
            if (kind[last] == k && guest[last] + length[last] == guestOffset && k != Mapping.Kind.COMPRESSED
                    && (k != Mapping.Kind.DATA || host[last] + length[last] == hostOffset)) {
                length[last] += bytes;
                return;
            }
        }
        if (count == kind.length) {
            int n = count * 2;
            kind = java.util.Arrays.copyOf(kind, n);
            guest = java.util.Arrays.copyOf(guest, n);
            length = java.util.Arrays.copyOf(length, n);
            host = java.util.Arrays.copyOf(host, n);
            compressedLength = java.util.Arrays.copyOf(compressedLength, n);
        }
        kind[count] = k;
        guest[count] = guestOffset;
        length[count] = bytes;
        host[count] = hostOffset;
        compressedLength[count] = compressed;
        count++;
    }
}
