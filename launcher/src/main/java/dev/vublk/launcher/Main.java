package dev.vublk.launcher;

import java.io.PrintWriter;
import picocli.CommandLine;

/** Entry point: exit codes are 0 (clean stop), 1 (runtime failure, e.g. bad image), 2 (bad options). */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        System.exit(run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
    }

    /** Runs the command (or its {@code qmp} client) in this JVM, as {@link #main} would, returning the exit code. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = new CommandLine(new VhostUserBlkCommand());
        cl.setOut(out);
        cl.setErr(err);
        cl.setParameterExceptionHandler((ex, a) -> {
            ex.getCommandLine().getErr().println("vhost-user-blk: " + ex.getMessage() + " (see --help)");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            c.getErr().println("vhost-user-blk: " + describe(ex));
            return 1;
        });
        return cl.execute(args);
    }

    /**
     * The failure's class and message (a NullPointerException's message may be null), then those
     * of its first few causes.
     */
    static String describe(Throwable t) {
        StringBuilder b = new StringBuilder();
        int depth = 0;
        for (Throwable e = t; e != null && depth++ < 4; e = e.getCause()) {
            if (!b.isEmpty()) {
                b.append("; caused by ");
            }
            b.append(e.getClass().getName());
            if (e.getMessage() != null) {
                b.append(": ").append(e.getMessage());
            }
        }
        return b.toString();
    }
}
