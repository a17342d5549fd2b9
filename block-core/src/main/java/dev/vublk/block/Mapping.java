package dev.vublk.block;

import dev.vublk.uring.NativeFile;

/**
 * Where a guest range lives, as a format's metadata says: the unit a mapping provider answers
 * with, and what the generic I/O layer acts on.
 *
 * @param kind        what the range holds
 * @param guestOffset the first guest byte covered
 * @param length      bytes covered, at least one
 * @param file        the host file for {@link Kind#DATA} and {@link Kind#COMPRESSED}; null otherwise
 * @param hostOffset  the byte in {@code file} matching {@code guestOffset}, or the start of the
 *                    compressed stream
 * @param compressedLength for {@link Kind#COMPRESSED}: the most bytes the stream may occupy
 */
public record Mapping(Kind kind, long guestOffset, long length, NativeFile file, long hostOffset, long compressedLength) {
    public enum Kind {
        /** Plain data at {@code hostOffset} in {@code file}. */
        DATA,
        /** Reads as zeros. */
        ZERO,
        /** Not present in this image: read from the backing/parent image, or zeros without one. */
        BACKING,
        /** A compressed cluster; {@code guestOffset} may be inside it. */
        COMPRESSED
    }

    public long guestEnd() {
        return guestOffset + length;
    }

    public static Mapping data(long guestOffset, long length, NativeFile file, long hostOffset) {
        return new Mapping(Kind.DATA, guestOffset, length, file, hostOffset, 0);
    }

    public static Mapping zero(long guestOffset, long length) {
        return new Mapping(Kind.ZERO, guestOffset, length, null, 0, 0);
    }

    public static Mapping backing(long guestOffset, long length) {
        return new Mapping(Kind.BACKING, guestOffset, length, null, 0, 0);
    }
}
