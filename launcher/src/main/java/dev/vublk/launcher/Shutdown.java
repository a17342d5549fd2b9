package dev.vublk.launcher;

import dev.vublk.control.ControlServer;
import dev.vublk.vhost.VhostUserServer;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What ends the process, from any thread: SIGTERM or SIGINT (installed before the socket exists,
 * since a VMM manager may signal as soon as it sees it) or QMP's {@code quit}. Either stops the
 * vhost-user server, whose loop then returns so the main thread closes the image and exits 0;
 * clients of the control socket hear {@code SHUTDOWN} first, as QEMU's do.
 */
final class Shutdown {
    private volatile boolean requested;
    private volatile VhostUserServer server;
    private volatile ControlServer control;

    /** Installs the signal handlers. */
    static Shutdown onSignals() {
        Shutdown s = new Shutdown();
        ShutdownSignals.onTerminate(() -> s.request("host-signal"));
        return s;
    }

    /** The server to stop; false when a stop was asked for already (then it is not worth running). */
    boolean serving(VhostUserServer server) {
        this.server = server;
        return !requested;
    }

    void announceTo(ControlServer control) {
        this.control = control;
    }

    /** Stops serving; {@code reason} is QEMU's ShutdownCause name, or null when the event was sent already. */
    void request(String reason) {
        requested = true;
        ControlServer c = control;
        if (c != null && reason != null) {
            Map<String, Object> data = new LinkedHashMap<>();
            data.put("guest", false);
            data.put("reason", reason);
            c.emit("SHUTDOWN", data);
        }
        VhostUserServer s = server;
        if (s != null) {
            s.stop();
        }
    }
}
