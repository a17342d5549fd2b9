package dev.vublk.block;

import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** The image formats the backend serves, and detection by magic number. */
public enum ImageFormat {
    RAW, QCOW2, VHDX;

    private static final int QCOW_MAGIC = 0x514649fb; // "QFI\xfb"
    private static final long VHDX_MAGIC = 0x656c696678646876L; // "vhdxfile" read little-endian
    private static final ValueLayout.OfInt BIG_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong LITTLE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Bytes at the start of a file that {@link #detect} looks at. */
    public static final int MAGIC_BYTES = 8;

    /** Looks at the first bytes; anything without a known magic is RAW. */
    public static ImageFormat detect(NativeFile file) throws IOException {
        if (file.size() < MAGIC_BYTES) {
            return RAW;
        }
        return detect(MemorySegment.ofArray(file.readBytes(0, MAGIC_BYTES)));
    }

    /**
     * The format data starting a file would be detected as: the one test for files being opened
     * and for guest writes to the first sector of a probed RAW image.
     */
    public static ImageFormat detect(MemorySegment head) {
        if (head.byteSize() < MAGIC_BYTES) {
            return RAW;
        }
        if (head.get(BIG_INT, 0) == QCOW_MAGIC) {
            return QCOW2;
        }
        if (head.get(LITTLE_LONG, 0) == VHDX_MAGIC) {
            return VHDX;
        }
        return RAW;
    }
}
