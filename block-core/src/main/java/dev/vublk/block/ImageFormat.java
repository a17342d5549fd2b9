package dev.vublk.block;

import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** The image formats the backend serves, and detection by magic number. */
public enum ImageFormat {
    RAW, QCOW2, VHDX;

    private static final int QCOW_MAGIC = 0x514649fb; // "QFI\xfb"
    private static final long VHDX_MAGIC = 0x656c696678646876L; // "vhdxfile" read little-endian

    /** Looks at the first bytes; anything without a known magic is RAW. */
    public static ImageFormat detect(NativeFile file) throws IOException {
        if (file.size() < 8) {
            return RAW;
        }
        byte[] head = file.readBytes(0, 8);
        if (ByteBuffer.wrap(head).order(ByteOrder.BIG_ENDIAN).getInt(0) == QCOW_MAGIC) {
            return QCOW2;
        }
        if (ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getLong(0) == VHDX_MAGIC) {
            return VHDX;
        }
        return RAW;
    }
}
