package dev.vublk.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.vhost.blk.IoLimits;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The I/O limit options: QEMU's names, every field reaching {@link IoLimits}, bad values exit 2 naming the options. */
class IoLimitOptionsTest {
    @TempDir
    Path dir;

    private static IoLimits parse(String... args) {
        VhostUserBlkCommand command = new VhostUserBlkCommand();
        CommandLine cl = new CommandLine(command);
        cl.parseArgs(args);
        return command.ioLimits.limits(cl);
    }

    /** Runs the launcher on an existing image with {@code limitArgs}; returns exit code and stderr. */
    private String[] run(String... limitArgs) throws IOException {
        Path img = dir.resolve("a.raw");
        if (!Files.exists(img)) {
            Files.write(img, new byte[4096]);
        }
        List<String> args = new ArrayList<>(List.of("--socket-path", dir.resolve("s").toString(), "--blk-file", img.toString()));
        args.addAll(List.of(limitArgs));
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true), args.toArray(String[]::new));
        return new String[] {Integer.toString(code), err.toString()};
    }

    @Test
    void noOptionsLimitNothing() {
        IoLimits l = parse();
        assertEquals(IoLimits.NONE, l);
    }

    @Test
    void everyOptionReachesItsField() {
        IoLimits l = parse("--iops-rd", "1", "--iops-wr", "2", "--bps-rd", "3", "--bps-wr", "4",
                "--iops-rd-max", "5", "--iops-wr-max", "6", "--bps-rd-max", "7", "--bps-wr-max", "8",
                "--iops-rd-max-length", "9", "--iops-wr-max-length", "10", "--bps-rd-max-length", "11",
                "--bps-wr-max-length", "12");
        assertEquals(new IoLimits(0, 1, 2, 0, 3, 4, 0, 5, 6, 0, 7, 8, 1, 9, 10, 1, 11, 12), l);
        IoLimits total = parse("--iops", "100", "--bps", "200", "--iops-max", "300", "--bps-max", "400",
                "--iops-max-length", "5", "--bps-max-length", "6");
        assertEquals(new IoLimits(100, 0, 0, 200, 0, 0, 300, 0, 0, 400, 0, 0, 5, 1, 1, 6, 1, 1), total);
    }

    @Test
    void badValuesExitTwoNamingTheOptions() throws IOException {
        String[][] cases = {
            {"--iops", "-1"}, {"--iops must be between 0 and"},
            {"--bps-rd", "1000000000000001"}, {"--bps-rd must be between 0 and"},
            {"--iops", "10", "--iops-rd", "5"}, {"--iops cannot be combined with --iops-rd or --iops-wr"},
            {"--bps-wr", "10", "--bps-wr-max", "5"}, {"--bps-wr-max must not be lower than --bps-wr"},
            {"--iops-max", "5"}, {"--iops-max needs --iops to be set"},
            {"--iops", "5", "--iops-max", "10", "--iops-max-length", "0"}, {"--iops-max-length must be between 1 and 86400"},
            {"--bps", "ten"}, {"--bps"},
        };
        for (int i = 0; i < cases.length; i += 2) {
            String[] r = run(cases[i]);
            assertEquals("2", r[0], String.join(" ", cases[i]) + ": " + r[1]);
            assertTrue(r[1].contains(cases[i + 1][0]), String.join(" ", cases[i]) + ": " + r[1]);
            assertEquals(1, r[1].strip().lines().count(), r[1]);
        }
    }
}
