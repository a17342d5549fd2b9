package dev.vublk.block.qcow2;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The QCOW2 header (docs/interop/qcow2.txt), big-endian, with its extensions and backing file
 * name. {@link #parse} checks every field against the spec and against the file size, so the rest
 * of the engine can trust the numbers; {@link #encodeFixed} rewrites only the fixed part, which
 * leaves extensions and the backing name on disk exactly as they were.
 */
public record QcowHeader(
        int version, long backingFileOffset, int backingFileSize, int clusterBits, long size,
        int cryptMethod, int l1Size, long l1TableOffset, long refcountTableOffset,
        int refcountTableClusters, int nbSnapshots, long snapshotsOffset,
        long incompatibleFeatures, long compatibleFeatures, long autoclearFeatures,
        int refcountOrder, int headerLength, int compressionType,
        List<HeaderExtension> extensions, String backingFile, byte[] rawFixed) {

    public static final int MAGIC = 0x514649fb;
    public static final long INCOMPAT_DIRTY = 1, INCOMPAT_CORRUPT = 2, INCOMPAT_DATA_FILE = 4,
            INCOMPAT_COMPRESSION = 8, INCOMPAT_EXTL2 = 16, KNOWN_INCOMPAT = 31;
    public static final long COMPAT_LAZY_REFCOUNTS = 1;
    public static final long AUTOCLEAR_BITMAPS = 1, AUTOCLEAR_DATA_FILE_RAW = 2, KNOWN_AUTOCLEAR = AUTOCLEAR_DATA_FILE_RAW;
    public static final int COMPRESSION_DEFLATE = 0, COMPRESSION_ZSTD = 1;
    public static final int V2_LENGTH = 72, V3_MIN_LENGTH = 104;
    /** QEMU's own bounds: an L1 of 32 MiB, a refcount table of 8 MiB, 64 Ki snapshots. */
    public static final long MAX_L1_BYTES = 32L << 20, MAX_REFTABLE_BYTES = 8L << 20;
    public static final int MAX_SNAPSHOTS = 65536, MAX_BACKING_NAME = 1023;
    private static final int OFFSET_MASK_BITS = 56;

    public int clusterSize() { return 1 << clusterBits; }

    public boolean extendedL2() { return (incompatibleFeatures & INCOMPAT_EXTL2) != 0; }

    public boolean dirty() { return (incompatibleFeatures & INCOMPAT_DIRTY) != 0; }

    public boolean corrupt() { return (incompatibleFeatures & INCOMPAT_CORRUPT) != 0; }

    public boolean hasDataFile() { return (incompatibleFeatures & INCOMPAT_DATA_FILE) != 0; }

    public int refcountBits() { return 1 << refcountOrder; }

    /** Bytes per L2 entry: 8, or 16 with extended L2 (entry + subcluster bitmap). */
    public int l2EntryBytes() { return extendedL2() ? 16 : 8; }

    public int l2Entries() { return clusterSize() / l2EntryBytes(); }

    public String extensionText(int type) {
        for (HeaderExtension e : extensions) {
            if (e.type() == type) {
                return e.text();
            }
        }
        return null;
    }

    /** The L1 entries needed to map {@code virtualSize} bytes with this geometry. */
    public long l1EntriesFor(long virtualSize) {
        long perL2 = (long) l2Entries() << clusterBits;
        return Math.ceilDiv(virtualSize, perL2); // virtualSize + perL2 - 1 overflows for sizes near 2^63
    }

    /** Reads the header from the first cluster of an image; {@code fileSize} bounds every offset. */
    public static QcowHeader parse(byte[] head, long fileSize) throws QcowFormatException {
        if (head.length < V2_LENGTH) {
            throw new QcowFormatException("file too short for a qcow2 header (" + head.length + " bytes)");
        }
        ByteBuffer b = ByteBuffer.wrap(head).order(ByteOrder.BIG_ENDIAN);
        if (b.getInt(0) != MAGIC) {
            throw new QcowFormatException("not a qcow2 image (bad magic)");
        }
        int version = b.getInt(4);
        if (version != 2 && version != 3) {
            throw new QcowFormatException("unsupported qcow2 version " + version);
        }
        int clusterBits = b.getInt(20);
        if (clusterBits < 9 || clusterBits > 21) {
            throw new QcowFormatException("cluster_bits " + clusterBits + " outside 9..21");
        }
        int clusterSize = 1 << clusterBits;
        long incompat = 0, compat = 0, autoclear = 0;
        int refcountOrder = 4, headerLength = V2_LENGTH, compression = COMPRESSION_DEFLATE;
        if (version == 3) {
            if (head.length < V3_MIN_LENGTH) {
                throw new QcowFormatException("file too short for a version 3 header");
            }
            incompat = b.getLong(72);
            compat = b.getLong(80);
            autoclear = b.getLong(88);
            refcountOrder = b.getInt(96);
            headerLength = b.getInt(100);
            if (headerLength < V3_MIN_LENGTH || headerLength > clusterSize || headerLength > head.length) {
                throw new QcowFormatException("header_length " + Integer.toUnsignedString(headerLength) + " out of range");
            }
            if (headerLength > 104) {
                compression = head[104] & 0xff;
            }
        }
        List<HeaderExtension> extensions = parseExtensions(head, headerLength, clusterSize);
        FeatureNames names = FeatureNames.of(extensions);
        long unknown = incompat & ~KNOWN_INCOMPAT;
        if (unknown != 0) {
            throw new QcowFormatException("image needs unsupported incompatible features: "
                    + names.describe(FeatureNames.INCOMPATIBLE, unknown));
        }
        if (refcountOrder < 0 || refcountOrder > 6) {
            throw new QcowFormatException("refcount_order " + refcountOrder + " outside 0..6");
        }
        if (compression != COMPRESSION_DEFLATE && compression != COMPRESSION_ZSTD) {
            throw new QcowFormatException("unknown compression_type " + compression);
        }
        if (compression != COMPRESSION_DEFLATE && (incompat & INCOMPAT_COMPRESSION) == 0) {
            throw new QcowFormatException("compression_type " + compression + " without the compression type feature bit");
        }
        if ((incompat & INCOMPAT_EXTL2) != 0 && clusterBits < 14) {
            throw new QcowFormatException("extended L2 entries need clusters of 16 KiB or more");
        }
        long size = b.getLong(24);
        int crypt = b.getInt(32);
        if (crypt != 0) {
            throw new QcowFormatException("encrypted images (crypt_method " + crypt + ") are not supported");
        }
        if (size < 0 || size > (1L << 61)) {
            throw new QcowFormatException("virtual size " + Long.toUnsignedString(size) + " out of range");
        }
        int l1Size = b.getInt(36);
        long l1Offset = b.getLong(40);
        long rtOffset = b.getLong(48);
        int rtClusters = b.getInt(56);
        int nbSnapshots = b.getInt(60);
        long snapOffset = b.getLong(64);
        long backingOffset = b.getLong(8);
        int backingSize = b.getInt(16);
        String backing = null;
        if (backingOffset != 0) {
            if (backingSize <= 0 || backingSize > MAX_BACKING_NAME) {
                throw new QcowFormatException("backing file name length " + Integer.toUnsignedString(backingSize) + " out of range");
            }
            if (backingOffset < headerLength || backingOffset + backingSize > Math.min(clusterSize, head.length)) {
                throw new QcowFormatException("backing file name outside the header cluster");
            }
            backing = new String(head, (int) backingOffset, backingSize, StandardCharsets.UTF_8);
        }
        byte[] fixed = java.util.Arrays.copyOf(head, headerLength);
        QcowHeader h = new QcowHeader(version, backingOffset, backingSize, clusterBits, size, crypt, l1Size, l1Offset,
                rtOffset, rtClusters, nbSnapshots, snapOffset, incompat, compat, autoclear, refcountOrder,
                headerLength, compression, List.copyOf(extensions), backing, fixed);
        h.checkTables(fileSize);
        return h;
    }

    private void checkTables(long fileSize) throws QcowFormatException {
        long cs = clusterSize();
        if (Integer.toUnsignedLong(l1Size) * 8 > MAX_L1_BYTES) {
            throw new QcowFormatException("L1 table of " + Integer.toUnsignedString(l1Size) + " entries is too large");
        }
        if (l1Size < l1EntriesFor(size)) {
            throw new QcowFormatException("L1 table of " + l1Size + " entries is too small for virtual size " + size);
        }
        checkRange("L1 table", l1TableOffset, (long) l1Size * 8, l1Size > 0, fileSize);
        if (refcountTableClusters <= 0 || (long) refcountTableClusters * cs > MAX_REFTABLE_BYTES) {
            throw new QcowFormatException("refcount table of " + Integer.toUnsignedString(refcountTableClusters) + " clusters out of range");
        }
        checkRange("refcount table", refcountTableOffset, (long) refcountTableClusters * cs, true, fileSize);
        if (nbSnapshots < 0 || nbSnapshots > MAX_SNAPSHOTS) {
            throw new QcowFormatException("snapshot count " + Integer.toUnsignedString(nbSnapshots) + " out of range");
        }
        if (nbSnapshots > 0) {
            checkRange("snapshot table", snapshotsOffset, 8, true, fileSize);
        }
        if (l1Size > 0 && overlaps(l1TableOffset, (long) l1Size * 8, refcountTableOffset, (long) refcountTableClusters * cs)) {
            throw new QcowFormatException("L1 table overlaps the refcount table");
        }
        if (hasDataFile() && extensionText(HeaderExtension.EXTERNAL_DATA_FILE) == null) {
            throw new QcowFormatException("external data file feature set but no data file name in the header");
        }
    }

    private void checkRange(String what, long offset, long length, boolean present, long fileSize) throws QcowFormatException {
        if (!present) {
            return;
        }
        if (offset <= 0 || (offset & (clusterSize() - 1)) != 0 || offset >>> OFFSET_MASK_BITS != 0) {
            throw new QcowFormatException(what + " offset 0x" + Long.toHexString(offset) + " is not a valid cluster offset");
        }
        if (offset > fileSize || length > fileSize - offset) {
            throw new QcowFormatException(what + " at 0x" + Long.toHexString(offset) + " (" + length
                    + " bytes) lies past the end of the file (" + fileSize + " bytes)");
        }
    }

    static boolean overlaps(long a, long aLen, long b, long bLen) {
        return a < b + bLen && b < a + aLen;
    }

    private static List<HeaderExtension> parseExtensions(byte[] head, int headerLength, int clusterSize) throws QcowFormatException {
        List<HeaderExtension> list = new ArrayList<>();
        int limit = Math.min(head.length, clusterSize);
        int at = headerLength;
        ByteBuffer b = ByteBuffer.wrap(head).order(ByteOrder.BIG_ENDIAN);
        while (at + 8 <= limit) {
            int type = b.getInt(at);
            long len = Integer.toUnsignedLong(b.getInt(at + 4));
            if (type == HeaderExtension.END) {
                return list;
            }
            if (len > limit - at - 8) {
                throw new QcowFormatException("header extension 0x" + Integer.toHexString(type) + " runs past the header cluster");
            }
            byte[] data = java.util.Arrays.copyOfRange(head, at + 8, at + 8 + (int) len);
            list.add(new HeaderExtension(type, data));
            at += 8 + (int) ((len + 7) & ~7L);
            if (list.size() > 1024) {
                throw new QcowFormatException("too many header extensions");
            }
        }
        if (head.length < clusterSize && at >= head.length) {
            return list; // a file shorter than one cluster: v2 images may end right after the header
        }
        throw new QcowFormatException("header extensions have no end marker");
    }

    /** The fixed header with this record's fields, keeping unknown trailing bytes of the original. */
    public byte[] encodeFixed() {
        byte[] out = rawFixed.clone();
        ByteBuffer b = ByteBuffer.wrap(out).order(ByteOrder.BIG_ENDIAN);
        b.putInt(0, MAGIC).putInt(4, version).putLong(8, backingFileOffset).putInt(16, backingFileSize)
                .putInt(20, clusterBits).putLong(24, size).putInt(32, cryptMethod).putInt(36, l1Size)
                .putLong(40, l1TableOffset).putLong(48, refcountTableOffset).putInt(56, refcountTableClusters)
                .putInt(60, nbSnapshots).putLong(64, snapshotsOffset);
        if (version == 3) {
            b.putLong(72, incompatibleFeatures).putLong(80, compatibleFeatures).putLong(88, autoclearFeatures)
                    .putInt(96, refcountOrder).putInt(100, headerLength);
        }
        return out;
    }

    public QcowHeader withSize(long newSize) {
        return new QcowHeader(version, backingFileOffset, backingFileSize, clusterBits, newSize, cryptMethod, l1Size,
                l1TableOffset, refcountTableOffset, refcountTableClusters, nbSnapshots, snapshotsOffset,
                incompatibleFeatures, compatibleFeatures, autoclearFeatures, refcountOrder, headerLength,
                compressionType, extensions, backingFile, rawFixed);
    }

    public QcowHeader withL1(long offset, int entries) {
        return new QcowHeader(version, backingFileOffset, backingFileSize, clusterBits, size, cryptMethod, entries,
                offset, refcountTableOffset, refcountTableClusters, nbSnapshots, snapshotsOffset,
                incompatibleFeatures, compatibleFeatures, autoclearFeatures, refcountOrder, headerLength,
                compressionType, extensions, backingFile, rawFixed);
    }

    public QcowHeader withRefcountTable(long offset, int clusters) {
        return new QcowHeader(version, backingFileOffset, backingFileSize, clusterBits, size, cryptMethod, l1Size,
                l1TableOffset, offset, clusters, nbSnapshots, snapshotsOffset,
                incompatibleFeatures, compatibleFeatures, autoclearFeatures, refcountOrder, headerLength,
                compressionType, extensions, backingFile, rawFixed);
    }

    public QcowHeader withFeatures(long incompatible, long autoclear) {
        return new QcowHeader(version, backingFileOffset, backingFileSize, clusterBits, size, cryptMethod, l1Size,
                l1TableOffset, refcountTableOffset, refcountTableClusters, nbSnapshots, snapshotsOffset,
                incompatible, compatibleFeatures, autoclear, refcountOrder, headerLength,
                compressionType, extensions, backingFile, rawFixed);
    }
}
