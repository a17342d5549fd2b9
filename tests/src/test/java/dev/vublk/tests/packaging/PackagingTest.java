package dev.vublk.tests.packaging;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vublk.tests.frontend.BlkCommand;
import dev.vublk.tests.frontend.FrontendOptions;
import dev.vublk.tests.frontend.VhostUserBlkFrontend;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The host files under {@code packaging/}: the systemd units pass {@code systemd-analyze verify},
 * the libvirt domain passes libvirt's own schema, the QEMU discovery file names the program the
 * units run and that program answers {@code --print-capabilities}, and the socket-activated unit's
 * command line, run the way systemd runs it, serves a disk.
 */
class PackagingTest {
    private static final Path PACKAGING = Path.of(System.getProperty("user.dir")).resolveSibling("packaging");
    private static final String PROGRAM = "/usr/libexec/vhost-user-blk";

    @TempDir
    Path dir;

    private record Run(int code, String output) {}

    private static Run run(List<String> cmd, Map<String, String> env) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "timed out: " + cmd);
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    /**
     * A jar holding only a manifest that points at this JVM's class path: the wrapper script runs
     * {@code java -jar}, and the shaded jar is built after the tests.
     */
    private Path launcherJar() throws IOException {
        Manifest m = new Manifest();
        m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        m.getMainAttributes().put(Attributes.Name.MAIN_CLASS, "dev.vublk.launcher.Main");
        StringBuilder cp = new StringBuilder();
        for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            cp.append(Path.of(entry).toUri()).append(' ');
        }
        m.getMainAttributes().put(Attributes.Name.CLASS_PATH, cp.toString().strip());
        Path jar = dir.resolve("vhost-user-blk.jar");
        try (OutputStream out = Files.newOutputStream(jar); JarOutputStream j = new JarOutputStream(out, m)) {
            // the manifest is all there is
        }
        return jar;
    }

    private Map<String, String> wrapperEnv() throws IOException {
        return Map.of("VUBLK_JAVA", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "VUBLK_JAR", launcherJar().toString());
    }

    /** The unit's ExecStart with its specifiers and variables replaced, split as systemd splits it. */
    private static List<String> execStart(Path unit, String instance, Map<String, String> env) throws IOException {
        Matcher m = Pattern.compile("(?m)^ExecStart=(.*)$").matcher(Files.readString(unit));
        assertTrue(m.find(), unit + " has no ExecStart");
        List<String> words = new ArrayList<>();
        for (String word : m.group(1).replace("%i", instance).split(" +")) {
            if (word.startsWith("${") && word.endsWith("}")) {
                words.add(env.get(word.substring(2, word.length() - 1))); // one word, as is
            } else if (word.startsWith("$")) {
                words.addAll(Arrays.asList(env.get(word.substring(1)).split(" +"))); // split on spaces
            } else {
                words.add(word);
            }
        }
        return words;
    }

    private static Map<String, String> environmentFile(Path file) throws IOException {
        Map<String, String> env = new java.util.HashMap<>();
        for (String line : Files.readAllLines(file)) {
            if (!line.isBlank() && !line.startsWith("#")) {
                String[] kv = line.split("=", 2);
                env.put(kv[0], kv[1]);
            }
        }
        return env;
    }

    @Test
    void systemdUnitsPassSystemdAnalyzeVerify() throws Exception {
        Path program = dir.resolve("vhost-user-blk");
        Files.copy(PACKAGING.resolve("vhost-user-blk"), program);
        List<String> cmd = new ArrayList<>(List.of("systemd-analyze", "verify"));
        try (var units = Files.list(PACKAGING.resolve("systemd"))) {
            for (Path unit : units.filter(u -> u.getFileName().toString().contains("@.")).toList()) {
                // An instance of each template, with the program where this test can put it.
                Path instance = dir.resolve(unit.getFileName().toString().replace("@.", "@vm1-disk0."));
                Files.writeString(instance, Files.readString(unit).replace(PROGRAM, program.toString()));
                cmd.add(instance.toString());
            }
        }
        assertEquals(5, cmd.size(), "three units: " + cmd);
        Run r = run(cmd, Map.of());
        assertEquals(new Run(0, ""), r, "warnings count as failures too");
    }

    @Test
    void libvirtDomainPassesLibvirtsSchemaAndUsesTheUnitsSocket() throws Exception {
        Path xml = PACKAGING.resolve("libvirt/vm1.xml");
        Run r = run(List.of("virt-xml-validate", xml.toString(), "domain"), Map.of());
        assertEquals(0, r.code(), r.output());
        String domain = Files.readString(xml);
        assertTrue(domain.contains("<source type='unix' path='/run/vhost-user-blk/vm1-disk0.sock'>"), domain);
        assertTrue(Files.readString(PACKAGING.resolve("systemd/vhost-user-blk@.service"))
                .contains("--socket-path /run/vhost-user-blk/%i.sock"));
        assertTrue(Files.readString(PACKAGING.resolve("systemd/vhost-user-blk-activated@.socket"))
                .contains("ListenStream=/run/vhost-user-blk/%i.sock"));
    }

    @Test
    void qemuDiscoveryFileNamesTheProgramAndItAnswersPrintCapabilities() throws Exception {
        String json = Files.readString(PACKAGING.resolve("qemu/50-vhost-user-blk.json"));
        Run parsed = run(List.of("python3", "-c", "import json,sys; d=json.load(open(sys.argv[1]));"
                + " print(sorted(d), d['type'], d['binary'])", PACKAGING.resolve("qemu/50-vhost-user-blk.json").toString()), Map.of());
        assertEquals(new Run(0, "['binary', 'description', 'type'] block " + PROGRAM + "\n"), parsed, json);
        for (String unit : List.of("vhost-user-blk@.service", "vhost-user-blk-activated@.service")) {
            assertTrue(Files.readString(PACKAGING.resolve("systemd/" + unit)).contains("ExecStart=" + PROGRAM + " "), unit);
        }
        Run caps = run(List.of("sh", PACKAGING.resolve("vhost-user-blk").toString(), "--print-capabilities"), wrapperEnv());
        assertEquals(new Run(0, "{\"type\": \"block\", \"features\": [\"read-only\", \"blk-file\"]}\n"), caps);
    }

    @Test
    void installScriptLaysOutTheHostFilesAndTheInstalledProgramRuns() throws Exception {
        Path dest = dir.resolve("root");
        Path jar = launcherJar();
        Run r = run(List.of(PACKAGING.resolveSibling("scripts").resolve("install").toString(), "--no-build", dest.toString()),
                Map.of("VUBLK_INSTALL_JAR", jar.toString()));
        assertEquals(0, r.code(), r.output());
        List<String> files;
        try (var walk = Files.walk(dest)) {
            files = walk.filter(Files::isRegularFile).map(f -> "/" + dest.relativize(f)).sorted().toList();
        }
        assertEquals(List.of("/usr/lib/systemd/system/vhost-user-blk-activated@.service",
                "/usr/lib/systemd/system/vhost-user-blk-activated@.socket",
                "/usr/lib/systemd/system/vhost-user-blk@.service",
                "/usr/lib/vhost-user-blk/vhost-user-blk.jar", "/usr/libexec/vhost-user-blk",
                "/usr/share/doc/vhost-user-blk/README.md", "/usr/share/doc/vhost-user-blk/example.conf",
                "/usr/share/doc/vhost-user-blk/libvirt-vm1.xml", "/usr/share/qemu/vhost-user/50-vhost-user-blk.json"), files);
        assertTrue(Files.isDirectory(dest.resolve("etc/vhost-user-blk")));
        Path program = dest.resolve("usr/libexec/vhost-user-blk");
        assertEquals("rwxr-xr-x", PosixFilePermissions.toString(Files.getPosixFilePermissions(program)));
        Run caps = run(List.of(program.toString(), "--print-capabilities"),
                Map.of("VUBLK_JAVA", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "VUBLK_JAR", dest.resolve("usr/lib/vhost-user-blk/vhost-user-blk.jar").toString()));
        assertEquals(new Run(0, "{\"type\": \"block\", \"features\": [\"read-only\", \"blk-file\"]}\n"), caps);
    }

    /**
     * systemd-socket-activate plays systemd: it listens, passes the socket as descriptor 3 and
     * runs the activated unit's ExecStart (with the example's configuration) on first connect.
     */
    @Test
    void socketActivatedUnitServesTheSocketSystemdPasses() throws Exception {
        Path image = dir.resolve("vm1-disk0.raw");
        try (var f = java.nio.channels.FileChannel.open(image, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            f.write(java.nio.ByteBuffer.allocate(1), (4 << 20) - 1);
        }
        Map<String, String> conf = new java.util.HashMap<>(environmentFile(PACKAGING.resolve("systemd/example.conf")));
        assertTrue(conf.containsKey("BLK_FILE") && conf.containsKey("VUBLK_OPTS"), conf.toString());
        conf.put("BLK_FILE", image.toString());
        conf.put("VUBLK_OPTS", conf.get("VUBLK_OPTS").replace("qcow2", "raw"));
        Path program = dir.resolve("vhost-user-blk");
        Files.copy(PACKAGING.resolve("vhost-user-blk"), program);
        Files.setPosixFilePermissions(program, PosixFilePermissions.fromString("rwx------"));
        List<String> exec = new ArrayList<>();
        for (String w : execStart(PACKAGING.resolve("systemd/vhost-user-blk-activated@.service"), "vm1-disk0", conf)) {
            exec.add(w.equals(PROGRAM) ? program.toString() : w.replace("/run/vhost-user-blk", dir.toString()));
        }
        assertEquals(List.of("--fd", "3"), exec.subList(1, 3), exec.toString());
        Path socket = dir.resolve("vm1-disk0.sock");
        // Like systemd, it passes no environment but what it is told to (-E): here where java and the jar are.
        List<String> cmd = new ArrayList<>(List.of("systemd-socket-activate", "-l", socket.toString(),
                "-E", "VUBLK_JAVA", "-E", "VUBLK_JAR"));
        cmd.addAll(exec);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("log").toFile());
        pb.environment().putAll(wrapperEnv());
        Process p = pb.start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!Files.exists(socket) && System.nanoTime() < deadline && p.isAlive()) {
                Thread.sleep(20);
            }
            byte[] data = new byte[4096];
            Arrays.fill(data, (byte) 0x5a);
            try (VhostUserBlkFrontend fe = VhostUserBlkFrontend.open(socket, FrontendOptions.qemu(2))) {
                assertEquals(BlkCommand.S_OK, fe.queue(1).write(8, data).status());
                assertArrayEquals(data, fe.queue(0).read(8, 4096).data());
                assertArrayEquals(Arrays.copyOf("vm1-disk0".getBytes(), 20), fe.queue(0).getId().data());
            } catch (IOException | RuntimeException e) {
                throw new AssertionError("serving failed; the back-end's output:\n" + Files.readString(dir.resolve("log")), e);
            }
            p.destroy(); // SIGTERM reaches the back-end: systemd-socket-activate execs it
            assertTrue(p.waitFor(20, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), Files.readString(dir.resolve("log")));
        } finally {
            p.destroyForcibly();
        }
        byte[] onDisk = new byte[4096];
        try (var f = java.nio.channels.FileChannel.open(image)) {
            f.read(java.nio.ByteBuffer.wrap(onDisk), 8 * 512);
        }
        assertEquals(0x5a, onDisk[4095]);
    }
}
