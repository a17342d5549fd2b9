package dev.vublk.tests.vm;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The command line that runs this project's backend for a VM test, from the test class path. */
final class OurBackend {
    private OurBackend() {}

    static List<String> command(Path image, int queues, String... extra) {
        return command(image.toString(), queues, extra);
    }

    /** For an image on network storage: {@code location} is what {@code --blk-file} takes. */
    static List<String> command(String location, int queues, String... extra) {
        List<String> cmd = new ArrayList<>(List.of(
                ProcessHandle.current().info().command().orElse("java"),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "dev.vublk.launcher.Main", "--socket-path", BackendProcess.SOCKET_PLACEHOLDER,
                "--blk-file", location, "--num-queues", Integer.toString(queues)));
        cmd.addAll(List.of(extra));
        return cmd;
    }
}
