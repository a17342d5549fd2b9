package dev.vublk.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.vhost.blk.EnospcPolicy;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code --on-enospc} and {@code --enospc-max-wait}: what reaches the disk, and bad values exit 2 naming the option. */
class EnospcOptionsTest {
    @TempDir
    Path dir;

    private static EnospcPolicy parse(String... args) {
        VhostUserBlkCommand command = new VhostUserBlkCommand();
        new CommandLine(command).parseArgs(args);
        return command.enospcPolicy();
    }

    @Test
    void reportByDefaultAndWaitWithItsBound() {
        assertEquals(EnospcPolicy.REPORT, parse());
        assertEquals(new EnospcPolicy(EnospcPolicy.Action.WAIT, Duration.ofSeconds(1), Duration.ofSeconds(60)),
                parse("--on-enospc", "wait"));
        assertEquals(new EnospcPolicy(EnospcPolicy.Action.WAIT, Duration.ofSeconds(1), Duration.ofSeconds(300)),
                parse("--on-enospc", "wait", "--enospc-max-wait", "300"));
        assertEquals("wait (retry every 1 s, at most 300 s)", parse("--on-enospc", "wait", "--enospc-max-wait", "300").describe());
    }

    @Test
    void badValuesExitTwoNamingTheOption() throws IOException {
        Path img = dir.resolve("a.raw");
        Files.write(img, new byte[4096]);
        String[][] cases = {
            {"--enospc-max-wait", "0"}, {"--enospc-max-wait must be between 1 and 86400 seconds"},
            {"--on-enospc", "stop"}, {"--on-enospc"},
        };
        for (int i = 0; i < cases.length; i += 2) {
            List<String> args = new ArrayList<>(List.of("--socket-path", dir.resolve("s").toString(), "--blk-file", img.toString()));
            args.addAll(List.of(cases[i]));
            StringWriter err = new StringWriter();
            int code = Main.run(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true), args.toArray(String[]::new));
            assertEquals(2, code, String.join(" ", cases[i]) + ": " + err);
            assertTrue(err.toString().contains(cases[i + 1][0]), String.join(" ", cases[i]) + ": " + err);
        }
    }
}
