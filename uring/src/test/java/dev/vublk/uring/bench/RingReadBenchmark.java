package dev.vublk.uring.bench;

import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.NativeException;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * 4 KiB random reads from a 256 MiB file: through the ring with 32 reads kept in flight, through
 * the ring one at a time, and one at a time with positional {@link FileChannel#read} and with
 * {@link NativeFile#read} (plain pread through FFM). Every score is nanoseconds per 4 KiB read.
 * The files are in the page cache, so this measures the software path, not a disk.
 * Run with {@code scripts/bench-uring}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
public class RingReadBenchmark implements IoCompletion {
    private static final int BLOCK = 4096;
    private static final long FILE_SIZE = 256L << 20;
    private static final int BLOCKS = (int) (FILE_SIZE / BLOCK);
    private static final int DEPTH = 32;
    /** Reads per invocation of the queued benchmark: long enough that filling and emptying the queue is noise. */
    private static final int BATCH = 4096;

    /** Where the file lives: tmpfs, and a disk file system (page cache). */
    @Param({"/dev/shm", "/tmp"})
    public String directory;

    private Path path;
    private NativeFile file;
    private FileChannel channel;
    private IoUring ring;
    private Arena arena;
    private MemorySegment buffers;
    private ByteBuffer channelBuffer;
    private long random = 0x9E3779B97F4A7C15L;
    private int limit;
    private int issued;
    private int completed;

    @Setup(Level.Trial)
    public void createFile() throws IOException {
        path = Files.createTempFile(Path.of(directory), "vublk-bench", ".img");
        try (FileChannel out = FileChannel.open(path, StandardOpenOption.WRITE)) {
            ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20);
            for (long pos = 0; pos < FILE_SIZE; pos += chunk.capacity()) {
                for (int i = 0; i < chunk.capacity(); i += 8) {
                    chunk.putLong(i, nextRandom());
                }
                chunk.clear();
                while (chunk.hasRemaining()) {
                    out.write(chunk, pos + chunk.position());
                }
            }
        }
        file = NativeFile.open(path, false, false);
        channel = FileChannel.open(path, StandardOpenOption.READ);
        ring = new IoUring(DEPTH * 2);
        arena = Arena.ofShared();
        buffers = arena.allocate((long) DEPTH * BLOCK, BLOCK);
        channelBuffer = ByteBuffer.allocateDirect(BLOCK);
    }

    @TearDown(Level.Trial)
    public void deleteFile() throws IOException {
        ring.close();
        channel.close();
        file.close();
        arena.close();
        Files.deleteIfExists(path);
    }

    private long nextRandom() {
        long x = random;
        x ^= x << 13;
        x ^= x >>> 7;
        x ^= x << 17;
        random = x;
        return x;
    }

    private long randomOffset() {
        return (long) Math.floorMod(nextRandom(), BLOCKS) * BLOCK;
    }

    private void issue(int slot) throws NativeException {
        ring.read(file.fd(), buffers.address() + (long) slot * BLOCK, BLOCK, randomOffset(), this, slot);
        issued++;
    }

    /** A finished ring read: its buffer slot goes straight to the next read while any are left. */
    @Override
    public void complete(long tag, int result) {
        if (result != BLOCK) {
            throw new IllegalStateException("read returned " + result);
        }
        completed++;
        if (issued < limit) {
            try {
                issue((int) tag);
            } catch (NativeException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int ringQueueDepth32() throws NativeException {
        limit = BATCH;
        issued = 0;
        completed = 0;
        for (int slot = 0; slot < DEPTH; slot++) {
            issue(slot);
        }
        while (completed < BATCH) {
            ring.submitAndWait();
        }
        return completed;
    }

    @Benchmark
    public int ringQueueDepth1() throws NativeException {
        limit = 1;
        issued = 0;
        completed = 0;
        issue(0);
        ring.submitAndWait();
        return completed;
    }

    @Benchmark
    public int fileChannelPositionalRead() throws IOException {
        channelBuffer.clear();
        return channel.read(channelBuffer, randomOffset());
    }

    @Benchmark
    public long nativeFilePread() throws NativeException {
        return file.read(buffers.asSlice(0, BLOCK), randomOffset());
    }
}
