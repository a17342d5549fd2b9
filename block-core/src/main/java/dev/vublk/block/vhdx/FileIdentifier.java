package dev.vublk.block.vhdx;

import dev.vublk.block.ImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** The file type identifier at offset 0: "vhdxfile" and the creator's name. */
record FileIdentifier(String creator) {
    static final long SIGNATURE = 0x656c696678646876L; // "vhdxfile"
    static final int SIZE = 8 + 512;

    static FileIdentifier parse(byte[] b, Path path) throws ImageException {
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        if (b.length < SIZE || bb.getLong(0) != SIGNATURE) {
            throw new ImageException(path, "not a VHDX file (no 'vhdxfile' signature)");
        }
        String s = new String(b, 8, 512, StandardCharsets.UTF_16LE);
        int nul = s.indexOf('\0');
        return new FileIdentifier(nul >= 0 ? s.substring(0, nul) : s);
    }

    byte[] encode() {
        byte[] b = new byte[SIZE];
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(0, SIGNATURE);
        byte[] name = creator.getBytes(StandardCharsets.UTF_16LE);
        System.arraycopy(name, 0, b, 8, Math.min(name.length, 510));
        return b;
    }
}
