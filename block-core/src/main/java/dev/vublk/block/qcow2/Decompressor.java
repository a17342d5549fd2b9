package dev.vublk.block.qcow2;

import com.github.luben.zstd.ZstdDecompressCtx;
import java.nio.ByteBuffer;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Inflates one compressed cluster: raw deflate (no zlib header) or a zstd frame. The stored
 * stream is padded to whole sectors, so input past the end of the stream is ignored; the output
 * must fill the cluster exactly, anything less is a damaged cluster. One per worker thread.
 */
final class Decompressor implements AutoCloseable {
    private final int type;
    private Inflater inflater;
    private ZstdDecompressCtx zstd;

    Decompressor(int compressionType) {
        this.type = compressionType;
    }

    /** Fills {@code out} (position to limit) from {@code in}; false if the data is damaged. */
    boolean decompress(ByteBuffer in, ByteBuffer out) {
        try {
            return type == QcowHeader.COMPRESSION_ZSTD ? zstd(in, out) : deflate(in, out);
        } catch (RuntimeException | DataFormatException e) {
            return false;
        }
    }

    private boolean deflate(ByteBuffer in, ByteBuffer out) throws DataFormatException {
        if (inflater == null) {
            inflater = new Inflater(true);
        }
        inflater.reset();
        inflater.setInput(in);
        while (out.hasRemaining()) {
            int n = inflater.inflate(out);
            if (n == 0 && (inflater.finished() || inflater.needsInput() || inflater.needsDictionary())) {
                break;
            }
        }
        return !out.hasRemaining();
    }

    private boolean zstd(ByteBuffer in, ByteBuffer out) {
        if (zstd == null) {
            zstd = new ZstdDecompressCtx();
        }
        zstd.reset();
        while (out.hasRemaining()) {
            int before = out.position() + in.position();
            boolean frameDone = zstd.decompressDirectByteBufferStream(out, in);
            if (frameDone || out.position() + in.position() == before) {
                break;
            }
        }
        return !out.hasRemaining();
    }

    @Override
    public void close() {
        if (inflater != null) {
            inflater.end();
        }
        if (zstd != null) {
            zstd.close();
        }
    }
}
