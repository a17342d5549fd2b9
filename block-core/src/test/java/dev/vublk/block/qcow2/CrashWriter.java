package dev.vublk.block.qcow2;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageHolders;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.WorkerDriver;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * The child process of {@link QcowCrashTest} and {@link QcowWriteBackTest}: allocating writes
 * of distinct blocks in an order fixed by the seed, a flush every few writes, and "F n" on stdout
 * once the first n writes are durable. It runs until it is killed (or a bounded number of
 * writes). Optional arguments: the flush interval in writes (0: never flush, and print "W n"
 * after every 64 writes instead) and the metadata cache budget in bytes.
 */
public final class CrashWriter {
    static final int BLOCK = 8192;

    private CrashWriter() {}

    /** A running writer: its image, its process and the thread reading its progress lines. */
    record Child(Path image, Process process, Thread reader) {
        /**
         * Kills it (SIGKILL: no close, no flush) and waits for it, its reader and the end of the
         * I/O it left in flight (its image locks go with that).
         */
        void kill() throws IOException, InterruptedException {
            process.destroyForcibly();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                throw new AssertionError("killed writer did not exit");
            }
            reader.join(5000);
            ImageHolders.awaitUnlocked(image);
        }
    }

    /**
     * Starts a writer in a child JVM with {@link #main}'s arguments after {@code image};
     * {@code progress} gets each progress line's letter ('F' or 'W') and count, on a reader thread.
     */
    static Child start(Path image, BiConsumer<Character, Integer> progress, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "--enable-native-access=ALL-UNNAMED", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"), CrashWriter.class.getName(), image.toString()));
        command.addAll(List.of(args));
        Process child = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        Thread reader = Thread.ofPlatform().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    if (line.length() > 2 && (line.charAt(0) == 'F' || line.charAt(0) == 'W') && line.charAt(1) == ' ') {
                        progress.accept(line.charAt(0), Integer.parseInt(line.substring(2).trim()));
                    }
                }
            } catch (IOException e) {
                // The child died.
            }
        });
        return new Child(image, child, reader);
    }

    static List<Integer> order(long seed, int blocks) {
        List<Integer> all = new ArrayList<>();
        for (int b = 0; b < blocks; b++) {
            all.add(b);
        }
        Collections.shuffle(all, new Random(seed));
        return all;
    }

    static byte[] content(long seed, int block) {
        byte[] b = new byte[BLOCK];
        Random r = new Random(seed * 1_000_003L + block);
        r.nextBytes(b);
        return b;
    }

    public static void main(String[] args) throws Exception {
        Path image = Path.of(args[0]);
        long seed = Long.parseLong(args[1]);
        int blocks = Integer.parseInt(args[2]);
        int flushEvery = args.length > 3 ? Integer.parseInt(args[3]) : 16;
        long cacheBytes = args.length > 4 ? Long.parseLong(args[4]) : 0;
        List<Integer> order = order(seed, blocks);
        ImageOptions options = ImageOptions.defaults();
        options = new ImageOptions(options.readOnly(), options.direct(), options.probeBacking(), cacheBytes,
                options.maxChainDepth());
        try (BlockImage img = Images.open(image, ImageFormat.QCOW2, options);
             WorkerDriver d = new WorkerDriver(img)) {
            for (int i = 0; i < order.size(); i++) {
                int b = order.get(i);
                if (d.write((long) b * BLOCK, content(seed, b)) != BLOCK) {
                    throw new IllegalStateException("write failed");
                }
                if (flushEvery == 0 && (i + 1) % 64 == 0) {
                    System.out.println("W " + (i + 1));
                    System.out.flush();
                }
                if (flushEvery > 0 && (i + 1) % flushEvery == 0) {
                    if (d.flush() != 0) {
                        throw new IllegalStateException("flush failed");
                    }
                    System.out.println("F " + (i + 1));
                    System.out.flush();
                }
            }
        }
    }
}
