package dev.vublk.block.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ClearStep;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.Mapping;
import dev.vublk.block.MappingRuns;
import dev.vublk.block.WorkerDriver;
import dev.vublk.block.WriteStep;
import dev.vublk.block.storage.FileStorage;
import dev.vublk.block.storage.Storage;
import dev.vublk.block.storage.StorageQueue;
import dev.vublk.uring.Errno;
import dev.vublk.uring.IoCompletion;
import dev.vublk.uring.IoUring;
import dev.vublk.uring.IoVecArray;
import dev.vublk.uring.NativeFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine's own rules, over a scripted mapping and a storage that counts and can fail: how
 * steps become transfers, that a token reaches {@link Mapping#written} exactly once on every
 * path, that errors keep their errno, that a format's bad answer fails the request and nothing
 * else, and that bounced transfers wait for room rather than fail.
 */
class QueueEngineTest {
    private static final int SIZE = 4 << 20;
    private static final int UNIT = 4096;

    /** O_DIRECT needs a file system that takes it: the default temp dir (/tmp) does, /dev/shm not. */
    @TempDir
    Path dir;
    private NativeFile file;
    private CountingStorage storage;
    private ScriptedMapping mapping;

    @BeforeEach
    void open() throws IOException {
        Path img = dir.resolve("disk.raw");
        Files.write(img, new byte[SIZE]);
        file = NativeFile.open(img, true, false);
        storage = new CountingStorage(FileStorage.buffered(file));
        mapping = new ScriptedMapping(storage);
    }

    @AfterEach
    void close() throws IOException {
        file.close();
    }

    @Test
    void contiguousStepsWithOneTokenBecomeOneWrite() throws IOException {
        mapping.tokens = pos -> 7;
        byte[] data = random(4 * UNIT);
        try (WorkerDriver d = new WorkerDriver(new ScriptedImage(mapping))) {
            assertEquals(data.length, d.write(UNIT, data));
            assertEquals(1, storage.writes, "four contiguous steps with one token: one WRITEV");
            assertEquals(List.of("7@4096+16384 ok"), mapping.written);
            assertArrayEquals(data, d.read(UNIT, data.length));
        }
    }

    @Test
    void eachTokenGetsItsOwnWriteAndReport() throws IOException {
        mapping.tokens = pos -> pos / UNIT;
        try (WorkerDriver d = new WorkerDriver(new ScriptedImage(mapping))) {
            assertEquals(3 * UNIT, d.write(0, random(3 * UNIT)));
            assertEquals(3, storage.writes);
            assertEquals(List.of("0@0+4096 ok", "1@4096+4096 ok", "2@8192+4096 ok"), mapping.written);
        }
    }

    @Test
    void aStorageErrorKeepsItsErrnoAndTheTokenHearsOfIt() throws IOException {
        mapping.tokens = pos -> 3;
        storage.failWrites = -Errno.ENOSPC;
        try (WorkerDriver d = new WorkerDriver(new ScriptedImage(mapping))) {
            assertEquals(-Errno.ENOSPC, d.tryWrite(0, random(2 * UNIT)), "the storage's errno, not EIO");
            assertEquals(List.of("3@0+8192 failed"), mapping.written);
        }
    }

    @Test
    void aPlanningFailureReportsTheRunPlannedButNeverIssued() throws IOException {
        mapping.tokens = pos -> 5;
        mapping.failPlanAt = 2 * UNIT;
        try (WorkerDriver d = new WorkerDriver(new ScriptedImage(mapping))) {
            assertEquals(-Errno.EIO, d.tryWrite(0, random(4 * UNIT)));
            assertEquals(0, storage.writes, "nothing was issued");
            assertEquals(List.of("5@0+8192 failed"), mapping.written, "the two planned steps are released once");
            assertEquals(2 * UNIT, d.write(0, random(2 * UNIT)), "the engine goes on serving");
        }
    }

    @Test
    void aLookupThatDoesNotCoverTheRangeFailsOnlyThatRead() throws IOException {
        mapping.gapInLookup = true;
        try (WorkerDriver d = new WorkerDriver(new ScriptedImage(mapping))) {
            try (Arena a = Arena.ofConfined()) {
                assertEquals(-Errno.EIO, d.tryReadInto(0, a.allocate(2 * UNIT, 8)));
            }
            mapping.gapInLookup = false;
            assertEquals(2 * UNIT, d.read(0, 2 * UNIT).length);
        }
    }

    @Test
    void aLookupMissIsFetchedOnTheRingAndLookedUpAgain() throws IOException {
        byte[] data = random(2 * UNIT);
        try (WorkerDriver d = new WorkerDriver(new ScriptedImage(mapping))) {
            assertEquals(data.length, d.write(0, data));
            mapping.fetchAt = 3 * UNIT; // the "table" the lookup lacks: these bytes, read on the ring
            assertArrayEquals(data, d.read(0, data.length));
            assertEquals(List.of("fetched 12288+512 token 42 after a miss"), mapping.fetched);
            assertArrayEquals(Arrays.copyOfRange(readFile(), 3 * UNIT, 3 * UNIT + 512), mapping.fetchedBytes);
        }
    }

    @Test
    void aFailedFetchFailsTheRequestWithItsErrno() throws IOException {
        mapping.fetchAt = SIZE; // past the end of the file: a short read of metadata is damage
        try (WorkerDriver d = new WorkerDriver(new ScriptedImage(mapping)); Arena a = Arena.ofConfined()) {
            assertEquals(-Errno.EIO, d.tryReadInto(0, a.allocate(UNIT, 8)));
            assertEquals(List.of(), mapping.fetched, "nothing handed to the format");
        }
    }

    /** While one read waits for its metadata, the queue serves the others: nothing blocks the thread. */
    @Test
    void aRequestWaitingOnMetadataDoesNotStallItsQueue() throws IOException {
        byte[] data = random(2 * UNIT);
        try (WorkerDriver d = new WorkerDriver(new ScriptedImage(mapping)); Arena arena = Arena.ofConfined()) {
            assertEquals(data.length, d.write(0, data));
            mapping.fetchAt = 3 * UNIT;
            mapping.fetchOnlyFor = 0;
            storage.holdPlainReads = true;
            int[] first = {1};
            MemorySegment seg = arena.allocate(UNIT, 8);
            IoVecArray iov = new IoVecArray(arena, 1);
            iov.add(seg.address(), UNIT);
            d.worker().read(0, iov, (t, r) -> first[0] = r, 9);
            d.ring().submit();
            assertEquals(1, first[0], "the first read waits for its metadata");
            assertArrayEquals(Arrays.copyOfRange(data, UNIT, 2 * UNIT), d.read(UNIT, UNIT), "another read is served meanwhile");
            assertEquals(1, first[0]);
            storage.release();
            while (first[0] == 1) {
                d.ring().submitAndWait();
            }
            assertEquals(UNIT, first[0]);
            assertArrayEquals(Arrays.copyOfRange(data, 0, UNIT), seg.toArray(ValueLayout.JAVA_BYTE));
        }
    }

    /**
     * A fetch never waits for bounce room: what holds the budget may itself wait on the fetch (a
     * copy-on-write reading old data). With the budget on loan, the lookup is retried at once
     * and the format loads its metadata itself.
     */
    @Test
    void aFetchWithTheBounceBudgetOnLoanFallsBackInsteadOfWaiting() throws IOException {
        int len = 1 << 20;
        int count = (int) (BounceBuffers.BUDGET_BYTES / len);
        Path img = dir.resolve("held.raw");
        Files.write(img, new byte[(count + 1) * len]);
        try (NativeFile direct = NativeFile.open(img, true, true); Arena arena = Arena.ofShared();
             IoUring ring = new IoUring(256)) {
            CountingStorage s = new CountingStorage(new FileStorage(direct, 512));
            ScriptedMapping m = new ScriptedMapping(s);
            QueueEngine engine = (QueueEngine) new ScriptedImage(m, (long) (count + 1) * len).newWorker(ring);
            s.holdWrites = true;
            int[] done = {0};
            for (int i = 0; i < count; i++) { // misaligned: each holds 1 MiB of the budget while its write is held
                MemorySegment seg = arena.allocate(len + 4096, 4096).asSlice(8, len);
                IoVecArray iov = new IoVecArray(arena, 1);
                iov.add(seg.address(), len);
                engine.write((long) i * len, iov, (t, r) -> done[0]++, i);
            }
            m.fetchAt = 0;
            int[] read = {1};
            MemorySegment buf = arena.allocate(UNIT, 4096);
            IoVecArray iov = new IoVecArray(arena, 1);
            iov.add(buf.address(), UNIT);
            engine.read((long) count * len, iov, (t, r) -> read[0] = r, 99);
            long deadline = System.nanoTime() + 5_000_000_000L; // a waiting read would never complete: bounded
            while (read[0] == 1 && System.nanoTime() < deadline) {
                ring.submit();
                ring.processCompletions();
                Thread.onSpinWait();
            }
            assertEquals(UNIT, read[0], "the read completed while the budget was on loan");
            assertEquals(List.of(), m.fetched, "no fetch: the lookup went the synchronous way");
            s.releaseWrites();
            while (done[0] < count) {
                ring.submitAndWait();
            }
            ring.drain();
            engine.close();
        }
    }

    private byte[] readFile() throws IOException {
        return Files.readAllBytes(file.path());
    }

    /**
     * More misaligned O_DIRECT transfers in flight than the bounce budget holds: the ones past
     * the budget wait for buffers to come back, and every write lands.
     */
    @Test
    void bouncedTransfersBeyondTheBudgetWaitInsteadOfFailing() throws IOException {
        int count = (int) (BounceBuffers.BUDGET_BYTES / (1 << 20)) + 8;
        int len = 1 << 20;
        Path img = dir.resolve("direct.raw");
        Files.write(img, new byte[count * len]);
        try (NativeFile direct = NativeFile.open(img, true, true); Arena arena = Arena.ofShared();
             IoUring ring = new IoUring(256)) {
            CountingStorage s = new CountingStorage(new FileStorage(direct, 512));
            ScriptedMapping m = new ScriptedMapping(s);
            ScriptedImage image = new ScriptedImage(m, (long) count * len);
            QueueEngine engine = (QueueEngine) image.newWorker(ring);
            int[] results = new int[count];
            int[] done = {0};
            List<byte[]> sent = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                byte[] data = random(len);
                sent.add(data);
                MemorySegment seg = arena.allocate(len + 4096, 4096).asSlice(8, len); // misaligned: bounced
                MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_BYTE, 0, len);
                IoVecArray iov = new IoVecArray(arena, 1);
                iov.add(seg.address(), len);
                int slot = i;
                engine.write((long) i * len, iov, (t, r) -> {
                    results[slot] = r;
                    done[0]++;
                }, i);
            }
            assertTrue(engine.bounces().waiting() > 0, "some transfers had to wait for bounce room");
            while (done[0] < count) {
                ring.submitAndWait();
            }
            for (int i = 0; i < count; i++) {
                assertEquals(len, results[i], "write " + i);
            }
            assertTrue(engine.bounces().allocatedBytes() <= BounceBuffers.BUDGET_BYTES);
            ring.drain();
            engine.close();
            byte[] onDisk = Files.readAllBytes(img);
            for (int i = 0; i < count; i++) {
                assertArrayEquals(sent.get(i), Arrays.copyOfRange(onDisk, i * len, (i + 1) * len), "data of write " + i);
            }
        }
    }

    private static byte[] random(int n) {
        byte[] b = new byte[n];
        new Random(n).nextBytes(b);
        return b;
    }

    /** A storage that counts transfers and can fail writes with a given errno. */
    static final class CountingStorage implements Storage {
        private final Storage inner;
        int writes;
        int failWrites;
        /** Plain reads (metadata fetches) are held until {@link #release}. */
        boolean holdPlainReads;
        private Runnable held;
        /** Vectored writes are held until {@link #releaseWrites}. */
        boolean holdWrites;
        private final List<Runnable> heldWrites = new ArrayList<>();

        void releaseWrites() {
            holdWrites = false;
            heldWrites.forEach(Runnable::run);
            heldWrites.clear();
        }

        void release() {
            holdPlainReads = false;
            Runnable r = held;
            held = null;
            r.run();
        }

        CountingStorage(Storage inner) {
            this.inner = inner;
        }

        @Override
        public String name() { return inner.name(); }

        @Override
        public boolean writable() { return inner.writable(); }

        @Override
        public int alignment() { return inner.alignment(); }

        @Override
        public StorageQueue queue(IoUring ring) throws IOException {
            StorageQueue q = inner.queue(ring);
            return new StorageQueue() {
                @Override
                public void readv(long offset, IoVecArray iov, IoCompletion done, long tag) { q.readv(offset, iov, done, tag); }

                @Override
                public void writev(long offset, IoVecArray iov, IoCompletion done, long tag) {
                    writes++;
                    if (failWrites != 0) {
                        done.complete(tag, failWrites);
                    } else if (holdWrites) {
                        heldWrites.add(() -> q.writev(offset, iov, done, tag));
                    } else {
                        q.writev(offset, iov, done, tag);
                    }
                }

                @Override
                public void read(long offset, long address, int length, IoCompletion done, long tag) {
                    if (holdPlainReads) {
                        held = () -> q.read(offset, address, length, done, tag);
                    } else {
                        q.read(offset, address, length, done, tag);
                    }
                }

                @Override
                public void write(long offset, long address, int length, IoCompletion done, long tag) {
                    q.write(offset, address, length, done, tag);
                }

                @Override
                public void flush(IoCompletion done, long tag) { q.flush(done, tag); }

                @Override
                public void zero(long offset, long length, boolean release, IoCompletion done, long tag) {
                    q.zero(offset, length, release, done, tag);
                }
            };
        }
    }

    /** Identity mapping cut into {@link #UNIT}-sized write steps, with scripted tokens and failures. */
    static final class ScriptedMapping implements Mapping {
        interface Tokens {
            long of(long pos);
        }

        private final Storage storage;
        final List<String> written = new ArrayList<>();
        Tokens tokens = pos -> -1;
        long failPlanAt = -1;
        boolean gapInLookup;
        /** The lookup asks for 512 bytes here once (-1: never). */
        long fetchAt = -1;
        /** Only lookups starting here fetch (-1: all). */
        long fetchOnlyFor = -1;
        final List<String> fetched = new ArrayList<>();
        byte[] fetchedBytes;

        ScriptedMapping(Storage storage) {
            this.storage = storage;
        }

        @Override
        public boolean writable() { return true; }

        @Override
        public void lookup(long offset, long length, MappingRuns out) {
            if (fetchAt >= 0 && !out.metadataDone && (fetchOnlyFor < 0 || fetchOnlyFor == offset)) {
                out.fetch(storage, fetchAt, 512, 42);
                return;
            }
            long skip = gapInLookup ? 512 : 0;
            out.data(offset + skip, length - skip, storage, offset + skip);
        }

        @Override
        public void planWrite(long pos, long end, WriteStep step) throws IOException {
            if (pos == failPlanAt) {
                throw new IOException("scripted planning failure");
            }
            step.inPlace(Math.min(end, (pos / UNIT + 1) * UNIT), storage, pos, tokens.of(pos));
        }

        @Override
        public void fetched(long host, long token, MemorySegment data) {
            fetched.add("fetched " + host + "+" + data.byteSize() + " token " + token + " after a miss");
            fetchedBytes = data.toArray(ValueLayout.JAVA_BYTE);
            fetchAt = -1;
        }

        @Override
        public void written(long token, long guestOffset, long length, boolean ok) {
            written.add(token + "@" + guestOffset + "+" + length + (ok ? " ok" : " failed"));
        }

        @Override
        public void planClear(long pos, long end, boolean discard, boolean mayUnmap, ClearStep step) {
            step.zeroStorage(end, storage, pos, discard || mayUnmap, -1);
        }

        @Override
        public List<Storage> dataStorages() { return List.of(storage); }
    }

    /** The smallest image around a mapping. */
    static final class ScriptedImage implements BlockImage {
        private final Mapping mapping;
        private final long size;

        ScriptedImage(Mapping mapping) {
            this(mapping, SIZE);
        }

        ScriptedImage(Mapping mapping, long size) {
            this.mapping = mapping;
            this.size = size;
        }

        @Override
        public long size() { return size; }

        @Override
        public boolean readOnly() { return false; }

        @Override
        public ImageFormat format() { return ImageFormat.RAW; }

        @Override
        public Path path() { return Path.of("scripted"); }

        @Override
        public int requestAlignment() { return 512; }

        @Override
        public int memoryAlignment() { return 1; }

        @Override
        public boolean supportsDiscard() { return true; }

        @Override
        public Mapping newMapping() { return mapping; }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    }
}
