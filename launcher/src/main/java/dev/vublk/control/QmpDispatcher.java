package dev.vublk.control;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BiConsumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * QMP's message rules, as QEMU applies them: a message is an object with {@code execute}, and
 * optionally {@code arguments} (an object) and {@code id} (any value, echoed verbatim); until a
 * client sent {@code qmp_capabilities} it may send nothing else. The protocol's own commands
 * ({@code qmp_capabilities}, {@code query-commands}, {@code query-version}, {@code quit}) live
 * here; all others are looked up by name among those given.
 */
final class QmpDispatcher {
    private static final Logger LOG = LoggerFactory.getLogger(QmpDispatcher.class);
    private static final Set<String> BUILT_IN = Set.of("qmp_capabilities", "query-commands", "query-version", "quit");
    private static final Set<String> MEMBERS = Set.of("execute", "arguments", "id");
    private static final Runnable NOTHING = () -> {};

    /** A reply, and what to do once it is queued (quit's event and stop come after its reply, as in QEMU). */
    record Reply(Map<String, Object> body, Runnable after) {}

    private final Map<String, QmpCommand> commands;
    private final Map<String, Object> version;
    private final BiConsumer<String, Map<String, Object>> events;
    private final Runnable onQuit;

    /**
     * @param packageName what {@code query-version} reports as the package, e.g.
     *        {@code "vhost-user-blk 0.1.0"}; its first {@code X.Y.Z} gives the version numbers
     */
    QmpDispatcher(Map<String, QmpCommand> commands, String packageName, BiConsumer<String, Map<String, Object>> events,
                  Runnable onQuit) {
        for (String name : commands.keySet()) {
            if (BUILT_IN.contains(name)) {
                throw new IllegalArgumentException(name + " is a command of the protocol itself");
            }
        }
        this.commands = Map.copyOf(commands);
        this.version = version(packageName);
        this.events = events;
        this.onQuit = onQuit;
    }

    private static Map<String, Object> version(String packageName) {
        Matcher m = Pattern.compile("(\\d+)\\.(\\d+)\\.(\\d+)").matcher(packageName);
        boolean found = m.find();
        Map<String, Object> qemu = new LinkedHashMap<>();
        qemu.put("micro", found ? Long.parseLong(m.group(3)) : 0L);
        qemu.put("minor", found ? Long.parseLong(m.group(2)) : 0L);
        qemu.put("major", found ? Long.parseLong(m.group(1)) : 0L);
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("qemu", qemu);
        v.put("package", packageName);
        return v;
    }

    /** The greeting's {@code QMP} member: the version and the capabilities offered (none). */
    Map<String, Object> greeting() {
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("version", version);
        g.put("capabilities", List.of());
        return g;
    }

    static Map<String, Object> error(String errorClass, String desc) {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("class", errorClass);
        error.put("desc", desc);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", error);
        return body;
    }

    /** The reply to one well-formed JSON message; never throws. */
    Reply dispatch(Object message, QmpSession session) {
        if (!(message instanceof Map<?, ?> raw)) {
            return new Reply(error(QmpException.GENERIC, "QMP input must be a JSON object"), NOTHING);
        }
        @SuppressWarnings("unchecked") // Json.Reader makes objects with String keys only
        Map<String, Object> msg = (Map<String, Object>) raw;
        Map<String, Object> body;
        Runnable after = NOTHING;
        String name = null;
        try {
            name = commandName(msg);
            Object args = msg.getOrDefault("arguments", Map.of());
            if (!(args instanceof Map<?, ?>)) {
                throw new QmpException("QMP input member 'arguments' must be an object");
            }
            @SuppressWarnings("unchecked")
            QmpArguments arguments = new QmpArguments((Map<String, Object>) args);
            Object result = execute(name, arguments, session);
            if ("quit".equals(name)) {
                after = this::quit;
            }
            Json.write(result); // a result JSON cannot carry is the command's bug, reported below
            body = new LinkedHashMap<>();
            body.put("return", result);
        } catch (QmpException e) {
            body = error(e.errorClass(), e.getMessage() != null ? e.getMessage() : e.errorClass());
        } catch (RuntimeException e) {
            LOG.error("control command {} failed", name, e);
            body = error(QmpException.GENERIC, "internal error in " + name + ": " + e);
        }
        if (msg.containsKey("id")) {
            body.put("id", msg.get("id"));
        }
        return new Reply(body, after);
    }

    private static String commandName(Map<String, Object> msg) throws QmpException {
        for (String member : msg.keySet()) {
            if (!MEMBERS.contains(member)) {
                throw new QmpException("QMP input member '" + member + "' is unexpected");
            }
        }
        if (!msg.containsKey("execute")) {
            throw new QmpException("QMP input lacks member 'execute'");
        }
        if (!(msg.get("execute") instanceof String name)) {
            throw new QmpException("QMP input member 'execute' must be a string");
        }
        return name;
    }

    private Object execute(String name, QmpArguments args, QmpSession session) throws QmpException {
        if (!session.negotiated() && !name.equals("qmp_capabilities")) {
            throw new QmpException(QmpException.COMMAND_NOT_FOUND, "Expecting capabilities negotiation with 'qmp_capabilities'");
        }
        switch (name) {
            case "qmp_capabilities" -> {
                if (session.negotiated()) {
                    throw new QmpException(QmpException.COMMAND_NOT_FOUND,
                            "Capabilities negotiation is already complete, command ignored");
                }
                List<?> enable = args.optionalList("enable");
                args.noOthers();
                if (enable != null && !enable.isEmpty()) {
                    throw new QmpException("Capability '" + enable.getFirst() + "' not available");
                }
                session.negotiate();
                return Map.of();
            }
            case "query-commands" -> {
                args.noOthers();
                List<Object> list = new ArrayList<>();
                Set<String> names = new TreeSet<>(BUILT_IN);
                names.addAll(commands.keySet());
                names.forEach(n -> list.add(Map.of("name", n)));
                return list;
            }
            case "query-version" -> {
                args.noOthers();
                return version;
            }
            case "quit" -> {
                args.noOthers();
                return Map.of();
            }
            default -> {
                QmpCommand command = commands.get(name);
                if (command == null) {
                    throw new QmpException(QmpException.COMMAND_NOT_FOUND, "The command " + name + " has not been found");
                }
                return command.execute(args.map());
            }
        }
    }

    private void quit() {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("guest", false);
        data.put("reason", "host-qmp-quit");
        events.accept("SHUTDOWN", data);
        onQuit.run();
    }
}
