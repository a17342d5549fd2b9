package dev.vublk.vhost.blk;

import dev.vublk.block.BlockImage;
import dev.vublk.block.BlockWorker;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.Mapping;
import dev.vublk.uring.IoUring;
import java.util.function.Function;
import java.util.function.LongConsumer;

/**
 * An image whose per-queue workers a test supplies; RAW-like, 512-byte aligned, discard supported.
 * A resize runs {@link #onResize} first (tests record what the queues were doing at that moment).
 */
final class FakeImage implements BlockImage {
    private volatile long size;
    volatile LongConsumer onResize = newSize -> {};
    /** What {@link #backing()} answers: null, or an image standing for a backing file. */
    volatile BlockImage backing;
    private final boolean readOnly;
    private final Function<IoUring, BlockWorker> workers;

    FakeImage(long size, boolean readOnly, Function<IoUring, BlockWorker> workers) {
        this.size = size;
        this.readOnly = readOnly;
        this.workers = workers;
    }

    @Override public long size() { return size; }

    @Override public boolean readOnly() { return readOnly; }

    @Override public ImageFormat format() { return ImageFormat.RAW; }

    @Override public java.nio.file.Path path() { return java.nio.file.Path.of("fake.img"); }

    @Override public BlockImage backing() { return backing; }

    @Override public int requestAlignment() { return 512; }

    @Override public int memoryAlignment() { return 1; }

    @Override public boolean supportsDiscard() { return true; }

    /** Never asked: this image's workers come from the test, not from the engine over a mapping. */
    @Override public Mapping newMapping() { throw new UnsupportedOperationException("FakeImage supplies its workers"); }

    @Override public BlockWorker newWorker(IoUring ring) { return workers.apply(ring); }

    @Override public void flush() {}

    @Override
    public void resize(long newSize) {
        onResize.accept(newSize);
        size = newSize;
    }

    @Override public void close() {}
}
