package dev.vublk.block.vhdx;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The compact form of a VHDX file used as fuzz input: the file's non-zero 4 KiB pages, so that a
 * seed of a few KiB stands for a sparse image of several MiB and every mutation lands in a
 * structure (headers, region tables, metadata, BAT, log) rather than in zeros.
 *
 * <pre>
 * flags      u8    bit 0: re-seal checksums after expanding (headers, region tables, log entries)
 *                  bit 1: open read-only, replaying a pending log through a writable descriptor
 * size       u16   file size in 64 KiB units (at most {@link #MAX_FILE})
 * segments   {u32 offset, u16 length, length bytes}...  ended by a segment of length 0
 * rest             the requests to run on the opened image (see VhdxImageFuzzTest)
 * </pre>
 *
 * Bytes of a segment past the file size are dropped; overlapping segments overwrite in order.
 * Re-sealing lets mutations reach what lies behind a CRC-32C instead of stopping at it; inputs
 * with the bit clear still exercise the damaged-checksum paths.
 */
final class FuzzImage {
    static final int RESEAL = 1, READ_ONLY_REPLAY = 2;
    /** Expanded files stay small: the largest seed is a 12 MiB fixed disk. */
    static final long MAX_FILE = 64 * Layout.MIB;
    /** Log entries are re-sealed only in the first MiBs of a log, to keep an input cheap. */
    private static final long MAX_LOG_RESEAL = 4 * Layout.MIB;
    private static final int PAGE = 4096, SEGMENT_HEADER = 6;

    private FuzzImage() {}

    /** Writes the image {@code input} describes to {@code file}; returns the flags and where the requests start. */
    static Expanded expand(byte[] input, Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(input).order(ByteOrder.LITTLE_ENDIAN);
        int flags = b.remaining() >= 1 ? b.get() & 0xff : 0;
        long size = b.remaining() >= 2 ? Math.min(MAX_FILE, Short.toUnsignedLong(b.getShort()) * 64 * Layout.KIB) : 0;
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
            while (b.remaining() >= SEGMENT_HEADER) {
                long offset = Integer.toUnsignedLong(b.getInt());
                int length = Math.min(Short.toUnsignedInt(b.getShort()), b.remaining());
                if (length == 0) {
                    break;
                }
                byte[] data = new byte[length];
                b.get(data);
                if (offset < size) {
                    f.seek(offset);
                    f.write(data, 0, (int) Math.min(length, size - offset));
                }
            }
            if ((flags & RESEAL) != 0) {
                reseal(f, size);
            }
        }
        return new Expanded(flags, b.position());
    }

    record Expanded(int flags, int requestsAt) {}

    /** The compact form of an existing file, with {@code requests} appended. */
    static byte[] compact(Path file, int flags, byte[] requests) throws IOException {
        byte[] all = Files.readAllBytes(file);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer head = ByteBuffer.allocate(3).order(ByteOrder.LITTLE_ENDIAN);
        head.put((byte) flags).putShort((short) ((all.length + 64 * Layout.KIB - 1) / (64 * Layout.KIB)));
        out.write(head.array());
        for (int page = 0; page < all.length; ) {
            if (zero(all, page)) {
                page += PAGE;
                continue;
            }
            int end = page;
            while (end < all.length && !zero(all, end) && end - page < 15 * PAGE) {
                end += PAGE;
            }
            int len = Math.min(end, all.length) - page;
            ByteBuffer seg = ByteBuffer.allocate(SEGMENT_HEADER).order(ByteOrder.LITTLE_ENDIAN);
            seg.putInt(page).putShort((short) len);
            out.write(seg.array());
            out.write(all, page, len);
            page = end;
        }
        out.write(new byte[SEGMENT_HEADER]);
        out.write(requests);
        return out.toByteArray();
    }

    private static boolean zero(byte[] all, int page) {
        for (int i = page; i < Math.min(all.length, page + PAGE); i++) {
            if (all[i] != 0) {
                return false;
            }
        }
        return true;
    }

    /** Recomputes the checksums of whatever carries the right signature. */
    private static void reseal(RandomAccessFile f, long size) throws IOException {
        long[][] logs = new long[2][];
        for (int copy = 0; copy < 2; copy++) {
            long at = copy == 0 ? Layout.HEADER1_OFFSET : Layout.HEADER2_OFFSET;
            byte[] h = read(f, at, Layout.HEADER_SIZE, size);
            if (h != null && le(h).getInt(0) == VhdxHeader.SIGNATURE) {
                Crc.seal(h, 0, h.length, 4);
                write(f, at, h);
                logs[copy] = new long[] {le(h).getLong(72), Integer.toUnsignedLong(le(h).getInt(68))};
            }
        }
        for (long at : new long[] {Layout.REGION_TABLE1_OFFSET, Layout.REGION_TABLE2_OFFSET}) {
            byte[] t = read(f, at, Layout.REGION_TABLE_SIZE, size);
            if (t != null && le(t).getInt(0) == RegionTable.SIGNATURE) {
                Crc.seal(t, 0, t.length, 4);
                write(f, at, t);
            }
        }
        for (long[] log : logs) {
            if (log != null && log[0] >= 0 && log[0] < size && log[1] > 0) {
                resealLog(f, log[0], Math.min(Math.min(log[1], MAX_LOG_RESEAL), size - log[0]));
            }
        }
    }

    /** Seals each entry lying whole inside {@code [offset, offset+length)}, sector by sector. */
    private static void resealLog(RandomAccessFile f, long offset, long length) throws IOException {
        byte[] log = read(f, offset, (int) length, offset + length);
        ByteBuffer b = le(log);
        for (int at = 0; at + PAGE <= log.length; at += PAGE) {
            long entryLength = Integer.toUnsignedLong(b.getInt(at + 8));
            if (b.getInt(at) == LogEntryHeader.SIGNATURE && entryLength >= PAGE && entryLength % PAGE == 0
                    && at + entryLength <= log.length) {
                Crc.seal(log, at, (int) entryLength, LogEntryHeader.CHECKSUM_OFFSET);
            }
        }
        write(f, offset, log);
    }

    private static byte[] read(RandomAccessFile f, long at, int length, long size) throws IOException {
        if (at + length > size) {
            return null;
        }
        byte[] b = new byte[length];
        f.seek(at);
        f.readFully(b);
        return b;
    }

    private static void write(RandomAccessFile f, long at, byte[] data) throws IOException {
        f.seek(at);
        f.write(data);
    }

    private static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }
}
