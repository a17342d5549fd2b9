package dev.vublk.control;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code vhost-user-blk qmp}: one command to a running backend's control socket. It negotiates
 * capabilities, sends the command, prints the reply as JSON (events arriving meanwhile are
 * skipped) and exits 0 on a {@code return}, 1 on an {@code error} or a failed connection.
 */
@Command(name = "qmp", mixinStandardHelpOptions = true, usageHelpWidth = 100,
        description = {"Sends one QMP command to a running backend's control socket and prints the reply.",
                "Values are integers, true/false, or strings; json:TEXT passes any JSON value."})
public final class QmpClientCommand implements Callable<Integer> {
    /** Largest reply read (query-stats of many queues is larger than a request may be). */
    private static final int MAX_REPLY = 16 << 20;

    @Spec
    CommandSpec spec;

    @Option(names = "--control-socket", paramLabel = "PATH", required = true, description = "The backend's control socket.")
    Path socket;

    @Parameters(index = "0", paramLabel = "COMMAND", description = "e.g. query-status, query-block, block_resize.")
    String command;

    @Parameters(index = "1..*", paramLabel = "KEY=VALUE", description = "The command's arguments.")
    List<String> arguments = new ArrayList<>();

    @Override
    public Integer call() {
        Map<String, Object> args = parseArguments();
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (SocketChannel channel = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            Json.Reader in = new Json.Reader(new BufferedInputStream(Channels.newInputStream(channel)), MAX_REPLY, Json.MAX_DEPTH);
            Map<String, Object> greeting = object(in.next());
            if (!greeting.containsKey("QMP")) {
                return failed(out, err, greeting); // refused, e.g. too many clients
            }
            Map<String, Object> negotiated = request(channel, in, "qmp_capabilities", Map.of());
            if (!negotiated.containsKey("return")) {
                return failed(out, err, negotiated);
            }
            Map<String, Object> reply = request(channel, in, command, args);
            if (!reply.containsKey("return")) {
                return failed(out, err, reply);
            }
            out.println(Json.write(reply));
            out.flush();
            return 0;
        } catch (EOFException e) {
            err.println("vhost-user-blk qmp: " + socket + ": the server closed the connection without replying");
            err.flush();
            return 1;
        } catch (IOException e) {
            err.println("vhost-user-blk qmp: " + socket + ": " + DiskCommands.message(e));
            err.flush();
            return 1;
        }
    }

    private Map<String, Object> parseArguments() {
        Map<String, Object> args = new LinkedHashMap<>();
        for (String a : arguments) {
            int eq = a.indexOf('=');
            if (eq <= 0) {
                throw new ParameterException(spec.commandLine(), "argument '" + a + "' is not KEY=VALUE");
            }
            String key = a.substring(0, eq);
            if (args.put(key, value(key, a.substring(eq + 1))) != null) {
                throw new ParameterException(spec.commandLine(), "argument " + key + " given twice");
            }
        }
        return args;
    }

    private Object value(String key, String text) {
        if (text.startsWith("json:")) {
            try {
                return Json.parse(text.substring(5));
            } catch (Json.MalformedException e) {
                throw new ParameterException(spec.commandLine(), "argument " + key + ": " + e.getMessage());
            }
        }
        if (text.equals("true") || text.equals("false")) {
            return Boolean.valueOf(text);
        }
        if (text.matches("-?[0-9]{1,19}")) {
            try {
                return Long.parseLong(text);
            } catch (NumberFormatException beyondLong) {
                return text;
            }
        }
        return text;
    }

    private static Map<String, Object> request(SocketChannel channel, Json.Reader in, String name, Map<String, Object> args)
            throws IOException {
        Map<String, Object> msg = new LinkedHashMap<>();
        msg.put("execute", name);
        if (!args.isEmpty()) {
            msg.put("arguments", args);
        }
        ByteBuffer bytes = ByteBuffer.wrap((Json.write(msg) + "\n").getBytes(StandardCharsets.US_ASCII));
        while (bytes.hasRemaining()) {
            channel.write(bytes);
        }
        while (true) {
            Map<String, Object> reply = object(in.next());
            if (!reply.containsKey("event")) {
                return reply;
            }
        }
    }

    @SuppressWarnings("unchecked") // Json.Reader makes objects with String keys only
    private static Map<String, Object> object(Object message) throws IOException {
        if (message instanceof Map<?, ?> map) {
            return (Map<String, Object>) map;
        }
        throw new IOException("the server sent " + Json.write(message) + ", not a QMP message");
    }

    private static int failed(PrintWriter out, PrintWriter err, Map<String, Object> reply) {
        out.println(Json.write(reply));
        out.flush();
        String why = reply.get("error") instanceof Map<?, ?> e ? e.get("class") + ": " + e.get("desc") : Json.write(reply);
        err.println("vhost-user-blk qmp: " + why);
        err.flush();
        return 1;
    }
}
