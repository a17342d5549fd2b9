package dev.vublk.block.qcow2;

import dev.vublk.block.BlockImage;
import dev.vublk.block.ImageFormat;
import dev.vublk.block.ImageOptions;
import dev.vublk.block.Images;
import dev.vublk.block.WorkerDriver;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

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
